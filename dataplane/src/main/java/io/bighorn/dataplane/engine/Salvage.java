package io.bighorn.dataplane.engine;

import io.bighorn.dataplane.replica.ReplicaInfo;
import java.util.Collection;
import java.util.Comparator;
import java.util.Optional;

/**
 * Which replicas hold every acknowledged write, decided from what they report, never guessed: the
 * highest epoch first (a replica that missed a later engine's start missed that engine's writes), then
 * the highest revision (every write, trim and zeroing counts one; durable at every flush); those with
 * both, and the same size and chain, are the volume. Used when an engine starts and when it salvages a
 * volume whose replicas have all failed.
 */
final class Salvage {
    private static final Comparator<ReplicaInfo> NEWEST =
            Comparator.comparingLong(ReplicaInfo::epoch).thenComparingLong(ReplicaInfo::revision);

    private Salvage() {}

    /** The replica with the newest data among those not half rebuilt, if any. */
    static Optional<ReplicaInfo> best(Collection<ReplicaInfo> infos) {
        return infos.stream().filter(i -> !i.rebuilding()).max(NEWEST);
    }

    /** Why {@code info} cannot serve beside {@code best}, or null if it can. */
    static String reason(ReplicaInfo info, ReplicaInfo best) {
        if (info.rebuilding()) {
            return "its rebuild was interrupted: add it again to finish it";
        }
        if (info.epoch() < best.epoch()) {
            return "epoch " + info.epoch() + " is behind " + best.epoch() + ": it missed a later engine's writes";
        }
        if (info.size() != best.size()) {
            return "size " + info.size() + " differs from " + best.size();
        }
        if (info.revision() != best.revision()) {
            return "revision " + info.revision() + " is behind " + best.revision();
        }
        if (!info.chain().equals(best.chain())) {
            return "chain " + info.chain() + " differs from " + best.chain();
        }
        return null;
    }
}
