// How a command's failure reaches the user: one line on stderr, never a stack trace. Usage errors
// (the command line itself is wrong) exit 2; anything else exits 1.

/** The error's own words, in one line, for a person: file-system errors name the path and the cause. */
export function describeError (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const sys = err as NodeJS.ErrnoException
  if (typeof sys.code === 'string' && typeof sys.path === 'string') {
    const cause = systemErrorCauses[sys.code] ?? sys.code
    return `${sys.path}: ${cause}`
  }
  return firstLine(err.message)
}

// The common causes, in the words `ls` and `cp` use for them.
const systemErrorCauses: Record<string, string> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EEXIST: 'already exists',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long'
}

function firstLine (text: string): string {
  const line = text.split('\n', 1)[0] ?? ''
  return line.length > 500 ? `${line.slice(0, 500)}…` : line
}
