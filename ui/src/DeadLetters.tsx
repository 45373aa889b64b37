/**
 * Dead letters (`GET /v1/dead_letters`): the messages the engine archived, with the reason and the payload (as
 * text); re-drive puts one back on its queue, discard deletes it, each after a confirmation.
 */
import { useState } from "react"
import { call } from "./api.ts"
import { ConfirmButton } from "./Confirm.tsx"
import { fmtDate, useData } from "./hooks.ts"
import { JsonText } from "./JsonText.tsx"

export const DeadLettersView = (props: { readonly search: string }) => {
  const [queue, setQueue] = useState(new URLSearchParams(props.search).get("queue") ?? "")
  const [page, setPage] = useState(1)
  const list = useData(
    () => call((c) => c.dashboard.deadLetters({ query: { page, per_page: 25, ...(queue !== "" ? { queue } : {}) } })),
    [queue, page]
  )
  const p = list.data?.pagination
  return (
    <section>
      <h2>Dead letters</h2>
      <div className="filters">
        <label>Queue <input data-testid="filter-queue" value={queue} onChange={(e) => { setPage(1); setQueue(e.target.value) }} /></label>
      </div>
      {list.error !== undefined && <p className="error">{list.error.message}</p>}
      {list.data?.dead_letters.length === 0 && <p data-testid="no-dead-letters">No dead letters.</p>}
      {list.data?.dead_letters.map((d) => (
        <div className="dead-letter" key={`${d.queue}/${d.msg_id}`} data-testid={`dead-letter-${d.queue}-${d.msg_id}`}>
          <h4>
            {d.queue} #{d.msg_id} <span className="muted">archived {fmtDate(d.archived_at)} · enqueued{" "}
            {fmtDate(d.enqueued_at)} · read {d.read_count}×</span>
          </h4>
          <p>Reason: {d.reason ?? "—"}</p>
          <JsonText value={d.message} name={`message-${d.msg_id}`} limit={4000} />
          <div className="actions">
            <ConfirmButton
              label="Re-drive"
              title={`Put message ${d.msg_id} back on ${d.queue}?`}
              testId={`redrive-${d.msg_id}`}
              action={() => call((c) => c.dashboard.redrive({ params: { queue: d.queue, msg_id: d.msg_id } }))}
              onDone={list.reload}
            >
              <p>The message is sent again on its queue (with a new id) and leaves the archive.</p>
            </ConfirmButton>
            <ConfirmButton
              label="Discard"
              danger
              title={`Discard message ${d.msg_id} of ${d.queue}?`}
              testId={`discard-${d.msg_id}`}
              action={() => call((c) => c.dashboard.discard({ params: { queue: d.queue, msg_id: d.msg_id } }))}
              onDone={list.reload}
            >
              <p>The message is deleted from the archive. This cannot be undone.</p>
            </ConfirmButton>
          </div>
        </div>
      ))}
      {p !== undefined && p.total_count > 0 && (
        <div className="pager">
          <button disabled={!p.has_previous} onClick={() => setPage(page - 1)}>Previous</button>
          <span>page {p.page} of {Math.max(1, p.total_pages)} · {p.total_count} dead letters</span>
          <button disabled={!p.has_next} onClick={() => setPage(page + 1)}>Next</button>
        </div>
      )}
    </section>
  )
}
