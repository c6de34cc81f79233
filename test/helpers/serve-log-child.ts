// A process that logs through the webhook's log (src/cli/serve-log.ts) to the file named by argv[2],
// flushing on exit as src/cli.ts wires it, then ends as argv[3] says: `throw` (an uncaught exception),
// `kill` (SIGKILL after a warning: no exit code runs), or `wait` (stays alive for 5 s).
import { openSync } from 'node:fs'
import { createServeLog } from '../../src/cli/serve-log.js'

const [file, ending, count] = process.argv.slice(2)
const log = createServeLog('info', { batchBytes: 8 * 1024, flushMs: 100, fd: openSync(file as string, 'a') })
process.on('exit', log.flush)
for (let i = 0; i < Number(count); i++) log.logger.info({ i }, 'admission')
if (ending === 'throw') throw new Error('crash')
if (ending === 'kill') {
  log.logger.warn('about to be killed')
  process.kill(process.pid, 'SIGKILL')
}
setTimeout(() => {}, 5000)
