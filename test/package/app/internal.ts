/** Only the documented import paths resolve: an engine module behind them is not reachable. Prints the error code. */
const attempts = ["tasker-effect/dist/src/db/EngineFunctions.js", "tasker-effect/src/db/EngineFunctions.ts", "tasker-effect/layers/engine"]
for (const specifier of attempts) {
  try {
    await import(specifier)
    console.log(JSON.stringify({ specifier, code: "RESOLVED" }))
  } catch (error) {
    console.log(JSON.stringify({ specifier, code: (error as { code?: string }).code }))
  }
}
