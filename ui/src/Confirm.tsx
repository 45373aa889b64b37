/** A confirmation dialog: the action runs only after "Confirm"; the API's refusal is shown in the dialog. */
import { type ReactNode, useState } from "react"
import { CallError } from "./api.ts"

export const ConfirmButton = (props: {
  readonly label: string
  readonly title: string
  readonly testId: string
  readonly children?: ReactNode
  readonly danger?: boolean
  /** runs the action; its rejection (a `CallError`) is shown */
  readonly action: () => Promise<unknown>
  readonly onDone?: () => void
}) => {
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<string | undefined>(undefined)
  const confirm = () => {
    setBusy(true)
    setError(undefined)
    props.action().then(
      () => {
        setBusy(false)
        setOpen(false)
        props.onDone?.()
      },
      (e: unknown) => {
        setBusy(false)
        setError(e instanceof CallError ? `${e.status ?? ""} ${e.message}`.trim() : String(e))
      }
    )
  }
  return (
    <>
      <button className={props.danger ? "danger" : ""} data-testid={props.testId} onClick={() => setOpen(true)}>
        {props.label}
      </button>
      {open && (
        <div className="modal-backdrop">
          <div className="modal" role="dialog" aria-label={props.title} data-testid={`${props.testId}-dialog`}>
            <h3>{props.title}</h3>
            {props.children}
            {error !== undefined && <p className="error" data-testid="action-error">{error}</p>}
            <div className="modal-buttons">
              <button onClick={() => setOpen(false)} disabled={busy}>Close</button>
              <button className={props.danger ? "danger" : "primary"} data-testid="confirm" onClick={confirm} disabled={busy}>
                Confirm
              </button>
            </div>
          </div>
        </div>
      )}
    </>
  )
}
