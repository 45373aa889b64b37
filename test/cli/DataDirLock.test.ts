/**
 * One process per embedded data directory, with real processes: two `tasker serve --data-dir D` started at once —
 * one serves, the other stops at start with one line naming the directory and the owner's PID (exit 1, no stack
 * trace). A task accepted by the one that runs is there after a restart. A lock left by a process that died is
 * taken over with a warning, and `tasker migrate` on a directory a server holds is refused the same way. A clean
 * shutdown (SIGTERM) removes the lock file.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { hostname, tmpdir } from "node:os"
import { join } from "node:path"
import { spawnSync } from "node:child_process"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { logLines, postLinearTask, run, type Running, start } from "./Support.ts"

let dataDir = ""
const running: Array<Running> = []
const lockFile = () => join(dataDir, "tasker.lock")

beforeAll(() => {
  dataDir = mkdtempSync(join(tmpdir(), "tasker-datadir-"))
})

afterAll(async () => {
  await Promise.all(running.filter((r) => r.child.exitCode === null && r.child.signalCode === null).map((r) => r.stop("SIGKILL")))
  rmSync(dataDir, { recursive: true, force: true })
})

const serve = () => {
  const server = start(["serve", "--port", "0", "--data-dir", dataDir], { timeout: 240_000 })
  running.push(server)
  return server
}

const urlOf = async (server: Running) => (await server.waitForStdout(/tasker API: (http:\/\/127\.0\.0\.1:\d+)/, 180_000))[1]!

/** The lines of stderr that are not JSON log lines (what the CLI prints for a failure). */
const plainLines = (stderr: string) =>
  stderr.split("\n").filter((line) => line.trim() !== "" && !line.startsWith("{"))

const lockedLine = (pid: number) =>
  new RegExp(
    `^tasker: the data directory ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is in use by another process: ` +
      `pid ${pid} on host ${hostname()}, since \\S+; stop that process or use another data directory`
  )

let taskUuid = ""

describe("one process per data directory", () => {
  it("of two serve processes started at once, one serves and the other stops at start naming the owner", async () => {
    const a = serve()
    const b = serve()
    const loser = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)])
    const winner = loser === a ? b : a
    const url = await urlOf(winner)
    const lost = await loser.exited

    expect(lost.code).toBe(1)
    expect(plainLines(lost.stderr)).toHaveLength(1)
    expect(plainLines(lost.stderr)[0]).toMatch(lockedLine(winner.child.pid!))
    expect(lost.stderr).not.toMatch(/^\s+at /m)
    expect(lost.stdout).not.toContain("tasker API")

    const owner = JSON.parse(readFileSync(lockFile(), "utf8")) as { pid: number; hostname: string; started_at: string }
    expect(owner).toMatchObject({ pid: winner.child.pid, hostname: hostname() })

    const created = await postLinearTask(url, 10)
    expect(created.status).toBe(201)
    taskUuid = ((await created.json()) as { task_uuid: string }).task_uuid

    const stopped = await winner.stop("SIGTERM")
    expect(stopped.code).toBe(0)
    expect(existsSync(lockFile()), "a clean shutdown removes the lock file").toBe(false)
  }, 240_000)

  it("a lock left by a dead process is taken over; the task accepted before the restart is there; migrate is refused", async () => {
    expect(taskUuid).not.toBe("")
    const dead = spawnSync(process.execPath, ["-e", ""]).pid!
    writeFileSync(
      lockFile(),
      JSON.stringify({ pid: dead, hostname: hostname(), started_at: "2026-01-01T00:00:00.000Z", token: "crashed" })
    )
    const server = serve()
    const url = await urlOf(server)
    const warning = logLines(server.stderr()).find((l) => l.message?.startsWith("took over the stale lock"))
    expect(warning?.level).toBe("WARN")
    expect(warning?.message).toContain(`it was held by pid ${dead} on host ${hostname()}`)
    expect(warning?.message).toContain(`no process has pid ${dead} any more`)
    expect(JSON.parse(readFileSync(lockFile(), "utf8"))).toMatchObject({ pid: server.child.pid })

    const task = await fetch(`${url}/v1/tasks/${taskUuid}`)
    expect(task.status).toBe(200)
    expect(await task.json()).toMatchObject({ task_uuid: taskUuid })

    const migrate = await run(["migrate", "--data-dir", dataDir])
    expect(migrate.code).toBe(1)
    expect(plainLines(migrate.stderr)).toHaveLength(1)
    expect(plainLines(migrate.stderr)[0]).toMatch(lockedLine(server.child.pid!))

    const stopped = await server.stop("SIGTERM")
    expect(stopped.code).toBe(0)
    expect(existsSync(lockFile())).toBe(false)
  }, 240_000)
})
