// Paging on scroll: tells the backend when the end of a list comes into view, once per page.
//
// `marker` names the page that would come next (the sidebar's cursor). The component asks for it the first
// time it is within `margin` of the visible area, and not again until the marker changes, so scrolling
// about never asks twice for the same page.
import React, { useEffect, useRef } from "react";

// Reflex passes a ref of its own along with the id (React 19 hands it over as a prop): it is left out, since
// the observer needs this element's.
export function ScrollSentinel({ marker, margin = "300px", onVisible, children, ref, ...props }) {
  const element = useRef(null);
  const asked = useRef("");
  // Reflex hands a new callback on every render; the observer reads the latest one instead of restarting.
  const callback = useRef(onVisible);
  callback.current = onVisible;

  useEffect(() => {
    const node = element.current;
    if (!node || !marker) return undefined;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((entry) => entry.isIntersecting) && asked.current !== marker) {
          asked.current = marker;
          callback.current && callback.current(marker);
        }
      },
      { root: node.closest("[data-scroll-root]"), rootMargin: margin },
    );
    observer.observe(node);
    return () => observer.disconnect();
  }, [marker, margin]);

  return (
    <div ref={element} {...props}>
      {children}
    </div>
  );
}
