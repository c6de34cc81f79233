import t from 'tap'
import { parseGroupFile, resolveGroups } from '../../src/capture/groups.js'

t.test('/etc/group names to gids; numbers and unknown names kept', async t => {
  const gids = parseGroupFile('root:x:0:\nftp:x:50:\n\nbroken line\nnogid:x::\njava:x:1001:alice,bob\nftp:x:51:\n')
  t.same([...gids], [['root', 0], ['ftp', 50], ['java', 1001]], 'the first entry of a name wins, as getgrnam does')
  t.same(resolveGroups(['java', '202', 'ftp', 'nosuch'], gids), ['1001', '202', '50', 'nosuch'])
})
