package io.bighorn.dataplane.engine;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;

/**
 * A replica's mode in an engine, and the transitions allowed between modes.
 *
 * <pre>
 *            rebuild starts          chain matches
 *   ERR ----------------------> WO ----------------> RW
 *    ^ |                         |                    ^|
 *    | +-------------------------|--------------------+|
 *    |     salvage (all failed; newest epoch+revision) |
 *    +---------------------------+---------------------+
 *              an error, a timeout, a stale epoch
 * </pre>
 */
public enum Mode {
    /** Healthy: gets writes and serves reads. */
    RW,
    /** Rebuilding: gets writes, serves no reads. */
    WO,
    /** Failed: gets nothing until a rebuild. */
    ERR;

    private static final Map<Mode, Set<Mode>> NEXT = Map.of(
            RW, EnumSet.of(ERR),
            WO, EnumSet.of(RW, ERR),
            ERR, EnumSet.of(WO, RW));

    /** Whether a replica in this mode may move to {@code next}. */
    public boolean canBecome(Mode next) {
        return NEXT.get(this).contains(next);
    }

    /** Whether writes go to a replica in this mode. */
    public boolean writable() {
        return this != ERR;
    }
}
