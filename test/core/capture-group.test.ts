// The init container's capture flags when the user's istio-proxy sets runAsUser/runAsGroup: -u is the
// user's uid and no -g is added (istio-iptables defaults the gid to the uid), as Istio injects it.
import t from 'tap'
import { defaultConfig } from '../../src/core/config.js'
import { inject } from '../../src/core/inject.js'
import type { Pod } from '../../src/core/types.js'

const pod = (securityContext: Record<string, number>): Pod => ({
  metadata: { name: 'p', namespace: 'n' },
  spec: { containers: [{ name: 'app', image: 'app' }, { name: 'istio-proxy', image: 'auto', securityContext }] }
})

const initArgs = (p: Pod): string[] => {
  const result = inject(p, {}, { ...defaultConfig(), initCommand: 'istio-iptables' })
  if (result.outcome !== 'injected') throw new Error(result.outcome)
  return result.pod.spec?.initContainers?.find(c => c.name === 'istio-init')?.args ?? []
}

t.test('a user proxy uid (and gid) changes -u only', async t => {
  for (const sc of [{ runAsUser: 1234 }, { runAsUser: 1234, runAsGroup: 1234 }, { runAsUser: 1234, runAsGroup: 5678 }]) {
    const args = initArgs(pod(sc))
    t.equal(args[args.indexOf('-u') + 1], '1234', JSON.stringify(sc))
    t.notOk(args.includes('-g'), `no -g for ${JSON.stringify(sc)}`)
  }
})

t.test('a configured proxy gid other than the uid is passed as -g', async t => {
  const result = inject(pod({}), {}, { ...defaultConfig(), initCommand: 'istio-iptables', proxyGID: 2000 })
  if (result.outcome !== 'injected') throw new Error(result.outcome)
  const args = result.pod.spec?.initContainers?.find(c => c.name === 'istio-init')?.args ?? []
  t.equal(args[args.indexOf('-g') + 1], '2000')
})
