/* ctrace.h: what every ctrace BPF program shares, one header per concern:
 *
 * - ct_context.h: struct offsets from BTF, the event context
 *   (CT_CONTEXT_FIELDS, ct_fill()), cgroup names, lost-event counting.
 * - ct_path.h: a file's path walked as names (ct_path_names()).
 * - ct_scope.h: the scope check (ct_traced_task()), with
 *   ct_follow.h: -c's filter maps and cgroup following, and
 *   ct_workload.h: the runtime-or-workload rule (CT_WORKLOAD_RULE).
 *
 * A system call is traced at its exit only, its arguments read from the
 * task's saved registers (CT_OFF_REGS_*, ct_context.h): nothing is kept
 * from its entry.
 *
 * Each header's programs declare their tracepoints (CT_NEEDS_TRACEPOINT,
 * ct_context.h says how).
 */
#ifndef CTRACE_H
#define CTRACE_H

#include "ct_context.h"
#include "ct_path.h"
#include "ct_follow.h"
#include "ct_workload.h"
#include "ct_scope.h"

#endif /* CTRACE_H */
