package io.bighorn.dataplane.engine;

import java.time.Instant;

/**
 * The engine's current or last rebuild, as {@code ctl rebuild-status} shows it.
 *
 * @param mode {@code full} (every snapshot compared) or {@code catch-up} (only the regions written while
 *     the replica was away)
 * @param state {@code none}, {@code running}, {@code done}, {@code failed} or {@code cancelled}
 * @param bytesDone the source's allocated bytes compared or copied so far
 * @param bytesTotal the source's allocated bytes in the snapshots being rebuilt
 * @param bytesSent data bytes actually written to the target (what differed)
 * @param digestBytes block digests exchanged to find what differed
 * @param bytesPerSecond the rate of {@code bytesDone} since the start (to the end, once finished)
 * @param bandwidthLimit bytes per second the copy is held to; 0 for none
 */
public record RebuildStatus(
        String target,
        String source,
        String mode,
        String state,
        long bytesDone,
        long bytesTotal,
        long bytesSent,
        long digestBytes,
        long bytesPerSecond,
        long bandwidthLimit,
        String error,
        Instant started,
        Instant finished) {
    public static final RebuildStatus NONE =
            new RebuildStatus(null, null, null, "none", 0, 0, 0, 0, 0, 0, null, null, null);

    /** Fraction done, 0 to 1 (1 when there is nothing to copy). */
    public double progress() {
        return bytesTotal == 0 ? (state.equals("done") ? 1 : 0) : Math.min(1.0, (double) bytesDone / bytesTotal);
    }
}
