// The audit report as the CLI prints it: a table for people, JSON or YAML for scripts (the same
// AuditReport object, so the two machine formats never drift).
import { stringify } from 'yaml'
import { summarise } from './classify.js'
import type { FindingKind } from './classify.js'
import type { AuditReport, WorkloadRef } from './report.js'

export type AuditFormat = 'table' | 'json' | 'yaml'

export function formatReport (report: AuditReport, format: AuditFormat): string {
  switch (format) {
    case 'json': return JSON.stringify(report, null, 2) + '\n'
    case 'yaml': return stringify(report)
    case 'table': return formatTable(report)
  }
}

export function describeWorkload (w: WorkloadRef): string {
  return w.kind === 'Other' ? `${w.ownerKind ?? 'Other'}/${w.name}` : `${w.kind}/${w.name}`
}

const kinds: readonly FindingKind[] = ['missing', 'stale', 'foreign', 'at-risk']

function formatTable (report: AuditReport): string {
  const lines: string[] = []
  if (report.workloads.length > 0) {
    const rows = [['NAMESPACE', 'WORKLOAD', 'PODS', 'MISSING', 'STALE', 'FOREIGN', 'AT-RISK']]
    for (const w of report.workloads) {
      rows.push([w.workload.namespace, describeWorkload(w.workload), String(w.pods), ...kinds.map(k => String(w.counts[k]))])
    }
    const widths = rows[0]?.map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length))) ?? []
    for (const row of rows) lines.push(row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd())
    lines.push('')
    for (const w of report.workloads) {
      lines.push(`${w.workload.namespace} ${describeWorkload(w.workload)}:`)
      for (const f of w.findings) {
        const more = f.pods > f.examples.length ? `, +${f.pods - f.examples.length} more` : ''
        const detail = f.differences === undefined ? f.message : `today's injection differs: ${summarise(f.differences)}`
        lines.push(`  ${f.kind} (${f.code}) ${f.pods} pod${f.pods === 1 ? '' : 's'} [${f.examples.join(', ')}${more}]: ${detail}`)
      }
    }
    lines.push('')
  }
  const c = report.counts
  lines.push(`${report.podsScanned} pod${report.podsScanned === 1 ? '' : 's'} in ${report.namespaces.length} namespace${report.namespaces.length === 1 ? '' : 's'}: ` +
    `${c.missing} missing, ${c.stale} stale, ${c.foreign} foreign, ${c['at-risk']} at risk` +
    (report.podsWithFindings === 0 ? ' — clean' : ''))
  return lines.join('\n') + '\n'
}
