/**
 * JSON shown as text (React escapes it: a `<script>` in a step result is characters, never markup). Past
 * `limit` characters the view is cut, with a link downloading the whole value as a `.json` file.
 */
import { useMemo } from "react"

export const DEFAULT_JSON_LIMIT = 20_000

export const JsonText = (props: { readonly value: unknown; readonly name: string; readonly limit?: number }) => {
  const limit = props.limit ?? DEFAULT_JSON_LIMIT
  const text = useMemo(() => JSON.stringify(props.value, null, 2) ?? "null", [props.value])
  const truncated = text.length > limit
  const href = useMemo(
    () => (truncated ? URL.createObjectURL(new Blob([text], { type: "application/json" })) : undefined),
    [text, truncated]
  )
  return (
    <div className="json" data-testid={`json-${props.name}`}>
      <pre>{truncated ? `${text.slice(0, limit)}\n… (${text.length - limit} more characters)` : text}</pre>
      {href !== undefined && (
        <a href={href} download={`${props.name}.json`} data-testid={`download-${props.name}`}>
          download full JSON ({Math.ceil(text.length / 1024)} KiB)
        </a>
      )}
    </div>
  )
}
