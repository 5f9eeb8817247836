/*
 * The resolver's seccomp filter: a plain BPF allowlist of the system calls
 * the running resolver makes (event loop, sockets, logging, config reload,
 * ldns and malloc). Anything else kills the process. Installed once
 * everything is set up and privileges are gone, so a parser bug that hands
 * the agent control of this process gets it very little: no exec, no
 * ptrace, no new kinds of sockets, no executable memory.
 */
#ifndef NAMEGATE_SANDBOX_H
#define NAMEGATE_SANDBOX_H

/* Needs no_new_privs (or CAP_SYS_ADMIN). Returns 0 (also, after a warning,
 * on an architecture the filter does not know), or -1 after logging why the
 * kernel refused the filter. */
int sandbox_enter(void);

#endif
