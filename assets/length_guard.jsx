// The message box's length, shown as it nears the server's limit, and a word when a paste didn't fit.
//
// The box itself stops at the limit (its maxLength), as the server would refuse more; without a word, a long
// paste would lose its end silently. All of it happens in the browser: nothing is sent per keystroke.
import React, { useEffect, useState } from "react";

const SHOW_FROM = 0.9; // of the limit

export function LengthGuard({ target, limit, ref, ...props }) {
  const [length, setLength] = useState(0);
  const [cut, setCut] = useState(0);

  useEffect(() => {
    const box = document.getElementById(target);
    if (!box) return undefined;
    const onInput = () => {
      setLength(box.value.length);
      if (box.value.length < limit) setCut(0);
    };
    const onPaste = (event) => {
      const pasted = (event.clipboardData && event.clipboardData.getData("text")) || "";
      const kept = box.value.length - (box.selectionEnd - box.selectionStart);
      setCut(Math.max(0, kept + pasted.length - limit));
    };
    box.addEventListener("input", onInput);
    box.addEventListener("paste", onPaste);
    // A send empties the box without an input event: the form's reset says so.
    const form = box.form;
    const onReset = () => setTimeout(onInput, 0);
    form && form.addEventListener("reset", onReset);
    form && form.addEventListener("submit", onReset);
    return () => {
      box.removeEventListener("input", onInput);
      box.removeEventListener("paste", onPaste);
      form && form.removeEventListener("reset", onReset);
      form && form.removeEventListener("submit", onReset);
    };
  }, [target, limit]);

  if (cut === 0 && length < limit * SHOW_FROM) return null;
  const count = `${length.toLocaleString("en")} / ${limit.toLocaleString("en")} characters`;
  return (
    <div {...props} role="status">
      {cut > 0 ? `${count}: the last ${cut.toLocaleString("en")} pasted characters did not fit.` : count}
    </div>
  );
}
