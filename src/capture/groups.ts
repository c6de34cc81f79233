// Group names in ISTIO_OUTBOUND_OWNER_GROUPS(_EXCLUDE) are written as gids when the pod's /etc/group
// knows them: iptables would resolve them itself when adding the rule and list them back as numbers,
// so writing numbers keeps a re-run's comparison with iptables-save exact. https://man7.org/linux/man-pages/man5/group.5.html

/** name → gid from /etc/group text (`name:password:GID:members`); malformed lines are skipped. */
export function parseGroupFile (text: string): Map<string, number> {
  const gids = new Map<string, number>()
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':')
    if (name === undefined || name === '' || gid === undefined || !/^\d+$/.test(gid)) continue
    if (!gids.has(name)) gids.set(name, Number(gid))
  }
  return gids
}

/** Each group as its gid when known; numbers and unknown names are kept as they are. */
export function resolveGroups (groups: readonly string[], gids: ReadonlyMap<string, number>): string[] {
  return groups.map(g => /^\d+$/.test(g) ? g : String(gids.get(g) ?? g))
}
