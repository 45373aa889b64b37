/**
 * Router-wide: the `Host` header checked against the hosts the server answers for. A web page can make a browser
 * send requests to a developer's `127.0.0.1:8080` by pointing a name it controls at 127.0.0.1 (DNS rebinding);
 * those requests carry the page's name in `Host`, so a server that answers only its own names cannot be driven
 * that way — whether or not authentication is on.
 *
 * The policy (`ApiServerOptions.allowedHosts`, `TASKER_API_ALLOWED_HOSTS`):
 * - given: exactly those names (`.example.com` also matches its subdomains; `*` matches any Host);
 * - not given, listening on a loopback address (the default 127.0.0.1): loopback names only — `localhost`,
 *   `*.localhost`, `127.x.x.x`, `::1`;
 * - not given, listening on any other address: any Host (put the server behind a proxy or set the list).
 *
 * A refused request is a 403 naming the `host` header. A request without `Host` (HTTP/1.0) is not a browser's
 * and passes.
 */
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest } from "effect/http"
import { errorResponse } from "./ErrorShapeLayer.ts"

/** Whether `host` (a name or an address, without port or brackets) is a loopback one. */
export const isLoopbackHost = (host: string): boolean =>
  host === "localhost" || host.endsWith(".localhost") || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) ||
  host === "::1" || host === "0:0:0:0:0:0:0:1"

/** The host of a `Host` header: lower case, without port, IPv6 brackets or a trailing dot. */
export const hostOfHeader = (header: string): string => {
  const value = header.trim().toLowerCase()
  const host = value.startsWith("[")
    ? value.slice(1, value.indexOf("]") < 0 ? undefined : value.indexOf("]"))
    : value.replace(/:\d*$/, "")
  return host.endsWith(".") ? host.slice(0, -1) : host
}

/** The test a request's host must pass, or undefined when any host is accepted. */
export const hostPolicy = (
  bindHost: string,
  allowedHosts: ReadonlyArray<string> | undefined
): ((host: string) => boolean) | undefined => {
  if (allowedHosts === undefined) return isLoopbackHost(hostOfHeader(bindHost)) ? isLoopbackHost : undefined
  if (allowedHosts.includes("*")) return undefined
  const names = allowedHosts.map(hostOfHeader)
  return (host) => names.some((name) => name.startsWith(".") ? host === name.slice(1) || host.endsWith(name) : host === name)
}

/** The check as router middleware; no middleware at all when any host is accepted. */
export const allowedHostsLayer = (bindHost: string, allowedHosts: ReadonlyArray<string> | undefined) => {
  const allowed = hostPolicy(bindHost, allowedHosts)
  if (allowed === undefined) return Layer.empty
  return HttpRouter.middleware((httpEffect) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
      const header = request.headers["host"]
      if (header === undefined || allowed(hostOfHeader(header))) return httpEffect
      return Effect.succeed(errorResponse(
        403,
        `this server does not answer for host ${JSON.stringify(header.slice(0, 100))}: allowed hosts are ` +
          `${allowedHosts === undefined ? "loopback names (localhost, 127.0.0.1, ::1)" : allowedHosts.join(", ")} ` +
          "(TASKER_API_ALLOWED_HOSTS)",
        "host"
      ))
    }), { global: true })
}
