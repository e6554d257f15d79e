// The append-only path from the backend to the browser.
//
// Reflex resends a changed var whole, so streaming an answer through a plain var would resend the answer so
// far (and a list var the whole conversation) on every flush. Instead the backend sends `feed`: {seq, ops},
// only the operations of its last flush, numbered. These components apply each batch exactly once, in
// order. When a batch is missing (a reload, a reconnect) they ask for one `snapshot`: {seq, messages,
// events}, everything up to its seq, and carry on from there.
//
// Operations: ["m", message] add or replace a message; ["+", text] append to the message being streamed
// (the last one); ["t", step] add or replace a tool step of that message; ["u", id, fields] update a
// message's fields; ["e", kind, time, detail] add a monitor event, which belongs to the message being
// streamed (snapshots carry events as objects that name their message).
import React, { useEffect, useRef, useState } from "react";
import ReactMarkdown from "react-markdown";
import rehypeHighlight from "rehype-highlight";
import remarkGfm from "remark-gfm";

const EMPTY = { seq: -1, messages: [], events: [], earlier: 0 };

function applyOps(view, ops) {
  let messages = view.messages;
  let events = view.events;
  for (const op of ops || []) {
    if (op[0] === "m") {
      const i = messages.findIndex((m) => m.id === op[1].id);
      messages = i < 0 ? [...messages, op[1]] : messages.map((m, j) => (j === i ? op[1] : m));
    } else if (op[0] === "+") {
      const i = messages.length - 1;
      if (i >= 0) messages = [...messages.slice(0, i), { ...messages[i], content: messages[i].content + op[1] }];
    } else if (op[0] === "t") {
      const i = messages.length - 1;
      if (i >= 0) {
        const steps = (messages[i].steps || []).filter((s) => s.id !== op[1].id);
        messages = [...messages.slice(0, i), { ...messages[i], steps: [...steps, op[1]] }];
      }
    } else if (op[0] === "u") {
      messages = messages.map((m) => (m.id === op[1] ? { ...m, ...op[2] } : m));
    } else if (op[0] === "e") {
      const last = messages[messages.length - 1];
      const event = { kind: op[1], time: op[2], detail: op[3], message_id: last && last.id };
      events = [...events, event].slice(-200);
    }
  }
  return { ...view, messages, events };
}

const NONE = { seq: 0, ops: [], messages: [], events: [] };

function reduce(view, feed, snapshot) {
  // The backend's numbering went backwards (its state was reset): start over from its snapshot.
  let next = Math.max(feed.seq, snapshot.seq) < view.seq ? EMPTY : view;
  // A snapshot newer than what we hold replaces it; it already contains every batch up to its seq.
  if (snapshot.seq > next.seq) {
    next = {
      seq: snapshot.seq,
      messages: snapshot.messages || [],
      events: snapshot.events || [],
      earlier: snapshot.earlier || 0, // older messages not sent yet
    };
  }
  if (feed.seq === next.seq + 1) {
    next = { ...applyOps(next, feed.ops), seq: feed.seq };
  }
  return next;
}

// Shared by both components. Applying a batch is keyed on its seq, so running it twice in one render (React
// StrictMode does) changes nothing.
function useFeed(props) {
  const feed = props.feed || NONE;
  const view = useRef(EMPTY);
  view.current = reduce(view.current, feed, props.snapshot || NONE);
  const behind = feed.seq > view.current.seq;
  const asked = useRef(-1);
  useEffect(() => {
    // A batch was missed: ask for one snapshot, and not again until it has arrived (batches keep coming
    // meanwhile, and each ask would send the whole conversation again).
    if (behind && props.onResync && asked.current !== view.current.seq) {
      asked.current = view.current.seq;
      props.onResync();
    }
  }, [behind, feed.seq]);
  return view.current;
}

const SAFE_LINK = /^(https?:|mailto:|#|\/(?!\/))/i;

// Raw HTML in a message is shown as the text it is, never made into elements (a model, or a prompt
// injection, may write anything).
function htmlAsText() {
  const walk = (node) => {
    if (node.type === "html") node.type = "text";
    (node.children || []).forEach(walk);
  };
  return walk;
}

function CopyButton({ text, label = "Copy" }) {
  const [copied, setCopied] = useState(false);
  const copy = () =>
    navigator.clipboard.writeText(text).then(() => {
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    });
  return (
    <button type="button" className="cf-copy" onClick={copy} aria-label={label}>
      {copied ? "Copied" : label}
    </button>
  );
}

// A code block: highlighted by rehype-highlight, with a button that copies its text as written.
function CodeBlock({ node, children, ...props }) {
  return (
    <div className="cf-code">
      <CopyButton text={textOf(children)} label="Copy code" />
      <pre {...props}>{children}</pre>
    </div>
  );
}

// The plain text of rendered children (highlighting wraps the code in spans).
function textOf(children) {
  if (typeof children === "string") return children;
  if (Array.isArray(children)) return children.map(textOf).join("");
  return children?.props ? textOf(children.props.children) : "";
}

// Memoized: parsing markdown is the costly part of a render, and a finished message's text never changes.
const Markdown = React.memo(function Markdown({ text }) {
  return (
    <ReactMarkdown
      remarkPlugins={[remarkGfm, htmlAsText]}
      rehypePlugins={[[rehypeHighlight, { detect: false, ignoreMissing: true }]]}
      urlTransform={(url) => (SAFE_LINK.test(url) ? url : null)}
      components={{
        a: ({ node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer" />,
        img: ({ node, alt }) => <span className="cf-image-blocked">[image: {alt || "not loaded"}]</span>,
        pre: CodeBlock,
      }}
    >
      {text}
    </ReactMarkdown>
  );
});

const STATUS_LABELS = {
  stopped: "Stopped",
  interrupted: "Interrupted",
  error: "Failed",
};

const STEP_ICONS = { running: "⏳", waiting: "?", ok: "✓", error: "⚠", denied: "⊘" };

// A tool call inside an answer: one line that opens to show what was asked and what came back. A call that
// waits for the user's approval stays open, with its choices.
function ToolStep({ step, onDecide }) {
  const waiting = step.status === "waiting";
  const [answered, setAnswered] = useState(false); // one decision per call: a double click sends one
  const decide = (decision) => {
    setAnswered(true);
    onDecide(step.id, decision);
  };
  return (
    <details
      className={`cf-step cf-step-${step.status}`}
      data-tool={step.name}
      data-server={step.server || undefined}
      data-status={step.status}
      open={waiting || undefined}
    >
      <summary>
        <span className="cf-step-icon" aria-hidden="true">{STEP_ICONS[step.status] || "•"}</span>{" "}
        {step.server && <span className="cf-step-server">{step.server} ›</span>} {step.name}
        {step.duration && <span className="cf-step-time"> · {step.duration}</span>}
        {step.status === "error" && <span className="cf-step-error"> · failed</span>}
        {step.status === "denied" && <span className="cf-step-error"> · declined</span>}
        {waiting && <span className="cf-step-wait"> · waits for your approval</span>}
      </summary>
      <div className="cf-step-label">Arguments</div>
      <pre className="cf-step-body">{step.arguments}</pre>
      {waiting ? (
        <div className="cf-approve" role="group" aria-label={`Run ${step.name}?`}>
          <button type="button" className="cf-allow" disabled={answered} onClick={() => decide("allow")}>
            Allow
          </button>
          <button type="button" className="cf-always" disabled={answered} onClick={() => decide("always")}>
            Always allow in this chat
          </button>
          <button type="button" className="cf-deny" disabled={answered} onClick={() => decide("deny")}>
            Deny
          </button>
        </div>
      ) : (
        step.status !== "running" && (
          <>
            <div className="cf-step-label">{step.status === "error" ? "Error" : "Result"}</div>
            <pre className="cf-step-body">{step.result}</pre>
          </>
        )
      )}
    </details>
  );
}

// Editing a sent question: the answers after it are replaced by a new one.
function EditBox({ message, maxChars, onEdit, onDone }) {
  const [text, setText] = useState(message.content);
  return (
    <div className="cf-edit">
      <textarea
        className="cf-edit-text"
        aria-label="Edit your message"
        value={text}
        maxLength={maxChars}
        onChange={(e) => setText(e.target.value)}
        rows={3}
        autoFocus
      />
      <div className="cf-edit-actions">
        <button type="button" className="cf-copy" onClick={onDone}>
          Cancel
        </button>
        <button
          type="button"
          className="cf-edit-send"
          onClick={() => {
            onEdit(message.id, text);
            onDone();
          }}
        >
          Save and resend
        </button>
      </div>
    </div>
  );
}

// Each flush changes only the last message: the others keep their object and skip rendering, so a long
// conversation costs the browser nothing per token.
const sameBubble = (a, b) => a.message === b.message && a.isLast === b.isLast && a.busy === b.busy;

const MessageBubble = React.memo(function MessageBubble({
  message,
  isLast,
  busy,
  maxChars,
  onSelect,
  onEdit,
  onRegenerate,
  onDecide,
}) {
  const [editing, setEditing] = useState(false);
  const streaming = message.status === "streaming";
  const isUser = message.role === "user";
  if (editing) {
    return <EditBox message={message} maxChars={maxChars} onEdit={onEdit} onDone={() => setEditing(false)} />;
  }
  return (
    <div className={`cf-row ${isUser ? "cf-row-user" : "cf-row-assistant"}`} data-message-id={message.id}>
      <div className={`cf-bubble ${isUser ? "cf-user" : "cf-assistant"}`} data-status={message.status}>
        {(message.steps || []).map((step) => (
          <ToolStep key={step.id} step={step} onDecide={onDecide} />
        ))}
        {isUser ? (
          <div className="cf-plain">{message.content}</div>
        ) : streaming ? (
          message.content ? (
            <div className="cf-plain cf-streaming">{message.content}</div>
          ) : (message.steps || []).length ? null : (
            <div className="cf-thinking" aria-label="Thinking">
              <span />
              <span />
              <span />
            </div>
          )
        ) : (
          <div className="cf-markdown">
            <Markdown text={message.content} />
          </div>
        )}
        {STATUS_LABELS[message.status] && (
          <div className={`cf-status cf-status-${message.status}`}>
            {STATUS_LABELS[message.status]}
            {message.error ? `: ${message.error}` : ""}
          </div>
        )}
        <div className="cf-footer">
          {!isUser && message.summary && (
            <button type="button" className="cf-summary" onClick={() => onSelect && onSelect(message.id)}>
              {message.summary}
            </button>
          )}
          {!streaming && message.content && <CopyButton text={message.content} label="Copy message" />}
          {isUser && !busy && onEdit && (
            <button type="button" className="cf-copy" onClick={() => setEditing(true)} aria-label="Edit message">
              Edit
            </button>
          )}
          {!isUser && isLast && !busy && onRegenerate && (
            <button type="button" className="cf-copy" onClick={() => onRegenerate()} aria-label="Regenerate">
              Regenerate
            </button>
          )}
        </div>
      </div>
    </div>
  );
}, sameBubble);

// Keyboard: Escape stops the answer, Ctrl/Cmd+Shift+O starts a new chat, "/" jumps to the message box, "?"
// lists these (chatapp/ui/shortcuts.py). An Escape that closes a dialog or menu is that one's, not Stop's.
function useShortcuts(props) {
  const latest = useRef(props);
  latest.current = props;
  useEffect(() => {
    const onKey = (event) => {
      const typing = ["INPUT", "TEXTAREA"].includes(document.activeElement?.tagName);
      const overlay = document.querySelector('[role="dialog"], [role="alertdialog"], [role="menu"], [role="listbox"]');
      if (event.key === "Escape" && latest.current.onStop && !overlay && !event.defaultPrevented) {
        latest.current.onStop();
      } else if (event.key.toLowerCase() === "o" && event.shiftKey && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        if (latest.current.onNewChat) latest.current.onNewChat();
      } else if (event.key === "/" && !typing) {
        event.preventDefault();
        document.getElementById("chat-input")?.focus();
      } else if (event.key === "?" && !typing && !overlay) {
        event.preventDefault();
        openShortcuts();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}

// The dialog that lists the shortcuts, opened by its button in the header. Closing it, Radix puts the focus on
// that button; a keyboard user who pressed "?" elsewhere gets it back where it was.
function openShortcuts() {
  const button = document.getElementById("shortcuts-button");
  if (!button) return;
  const back = document.activeElement;
  let shown = false;
  const watch = new MutationObserver(() => {
    if (document.getElementById("shortcuts")) {
      shown = true;
    } else if (shown) {
      watch.disconnect();
      setTimeout(() => back?.focus(), 0);
    }
  });
  watch.observe(document.body, { childList: true, subtree: true });
  setTimeout(() => shown || watch.disconnect(), 2000); // it never opened: watch no longer
  button.click();
}

// Back to this tab (focus, or shown again): another tab or device may have asked or renamed something
// meanwhile, and the backend catches this one up. At most every two seconds: focus events come in bursts.
function useCatchUpOnReturn(props) {
  const latest = useRef(props);
  latest.current = props;
  useEffect(() => {
    let last = 0;
    const onReturn = () => {
      if (document.visibilityState !== "visible" || Date.now() - last < 2000) return;
      last = Date.now();
      if (latest.current.onReturn) latest.current.onReturn();
    };
    window.addEventListener("focus", onReturn);
    document.addEventListener("visibilitychange", onReturn);
    return () => {
      window.removeEventListener("focus", onReturn);
      document.removeEventListener("visibilitychange", onReturn);
    };
  }, []);
}

// What a screen reader is told of an answer: the whole of it, once, when it ends (and how it ended, if not
// completely); never token by token. An answer already whole when the tab opened it isn't read out.
function useSpokenAnswer(last) {
  const [spoken, setSpoken] = useState("");
  const seen = useRef({ id: "", status: "" });
  useEffect(() => {
    if (!last || last.role !== "assistant") return;
    const before = seen.current;
    seen.current = { id: last.id, status: last.status };
    if (before.id !== last.id) setSpoken(""); // another answer, or another conversation: the old one goes
    if (before.id === last.id && before.status === "streaming" && last.status !== "streaming") {
      const how = STATUS_LABELS[last.status] ? `${STATUS_LABELS[last.status]}. ` : "";
      setSpoken(how + (last.content || "").slice(0, 4000));
    }
  }, [last && last.id, last && last.status]);
  return spoken;
}

export function Transcript(props) {
  const view = useFeed(props);
  useShortcuts(props);
  useCatchUpOnReturn(props);

  const box = useRef(null);
  const pinned = useRef(true);
  const last = view.messages[view.messages.length - 1];
  const spoken = useSpokenAnswer(last);
  useEffect(() => {
    // Follow the answer as it grows, unless the reader scrolled up to read something else.
    if (box.current && pinned.current) box.current.scrollTop = box.current.scrollHeight;
  }, [view.seq, last && last.content.length]);
  const focused = useRef("");
  useEffect(() => {
    // A search result was opened: bring its message into view once it is shown (after the follow above).
    if (props.focusId && props.focusId !== focused.current && view.messages.some((m) => m.id === props.focusId)) {
      focused.current = props.focusId;
      pinned.current = false;
      setTimeout(() => showMessage(props.focusId, "auto"), 50);
    }
  });
  // Earlier messages come in above: the one that was first stays where the reader was.
  const anchor = useRef("");
  useEffect(() => {
    const row = anchor.current && document.querySelector(`[data-message-id="${anchor.current}"]`);
    if (row && view.messages[0] && view.messages[0].id !== anchor.current) {
      anchor.current = "";
      row.scrollIntoView({ block: "start" });
    }
  }, [view.seq]);
  const showEarlier = () => {
    anchor.current = view.messages[0] ? view.messages[0].id : "";
    props.onEarlier();
  };
  const onScroll = () => {
    const el = box.current;
    pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
  };
  return (
    <div id={props.id} className="cf-transcript" ref={box} onScroll={onScroll}>
      <div className="sr-only" aria-live="polite" id="spoken-answer">
        {spoken}
      </div>
      {view.earlier > 0 && (
        <button type="button" id="show-earlier" className="cf-earlier" onClick={showEarlier}>
          Show earlier messages ({view.earlier.toLocaleString("en")} more)
        </button>
      )}
      {view.messages.length === 0 ? (
        <div className="cf-empty">{props.placeholder}</div>
      ) : (
        view.messages.map((m, i) => (
          <MessageBubble
            key={m.id}
            message={m}
            isLast={i === view.messages.length - 1}
            busy={last && last.status === "streaming"}
            maxChars={props.maxChars}
            onSelect={props.onSelect}
            onEdit={props.onEdit}
            onRegenerate={props.onRegenerate}
            onDecide={props.onDecide}
          />
        ))
      )}
    </div>
  );
}

// Scrolls the chat to a message and makes it blink once (the chat is another component: the DOM links them).
function showMessage(id, behavior = "smooth") {
  const row = id && document.querySelector(`[data-message-id="${id}"]`);
  if (!row) return;
  row.scrollIntoView({ behavior, block: "center" });
  row.classList.remove("cf-flash");
  void row.offsetWidth;
  row.classList.add("cf-flash");
}

const EVENT_LABELS = {
  request_sent: "Request sent",
  first_token: "First token",
  tool_started: "Tool call started",
  tool_waiting: "Waiting for approval",
  tool_finished: "Tool call finished",
  retry: "Retry",
  usage: "Usage received",
  finished: "Finished",
  stopped: "Stopped",
  interrupted: "Interrupted",
  error: "Error",
  labelled: "Named",
};

export function EventLog(props) {
  const view = useFeed(props);
  const box = useRef(null);
  useEffect(() => {
    if (box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [view.events.length]);
  return (
    // Focusable, so a keyboard can scroll it; a log, so a screen reader knows what it is, but a quiet one: the
    // status badge and the finished answer already say what matters, once each.
    <div
      id={props.id}
      className="cf-events"
      ref={box}
      tabIndex={0}
      role="log"
      aria-live="off"
      aria-label="Backend events"
    >
      {view.events.length === 0 ? (
        <div className="cf-empty-small">No backend events yet.</div>
      ) : (
        view.events.map((e, i) => (
          <div
            key={i}
            className={`cf-event cf-event-${e.kind}`}
            data-kind={e.kind}
            title="Show the message"
            role="button"
            tabIndex={0}
            onClick={() => showMessage(e.message_id)}
            onKeyDown={(key) => (key.key === "Enter" || key.key === " ") && showMessage(e.message_id)}
          >
            <span className="cf-event-time">{e.time}</span>
            <span className="cf-event-kind">{EVENT_LABELS[e.kind] || e.kind}</span>
            {e.detail && <span className="cf-event-detail">{e.detail}</span>}
          </div>
        ))
      )}
    </div>
  );
}
