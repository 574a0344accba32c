package io.bighorn.manager.scheduler;

import io.bighorn.common.Sizes;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Where new replicas of a volume go: a pure function of the nodes, their disks, the volume's replicas that
 * stay, and the settings. Longhorn's rules, in two stages per replica:
 *
 * <ol>
 *   <li><b>Fit.</b> A node must be ready, open to scheduling and carry every tag of the volume's node
 *       selector; a disk must be open to scheduling, carry every tag of the disk selector and pass both
 *       space formulas: <i>minimal available</i>, {@code available − size > maximum × minimal% / 100}, and
 *       <i>over-provisioning</i>, {@code size + scheduled ≤ (maximum − reserved) × over% / 100}.
 *   <li><b>Spread.</b> Among fitting disks, prefer a node in a zone holding no replica of the volume, then
 *       a new node in a used zone (only with zone soft anti-affinity), then a node already holding one (only
 *       with replica soft anti-affinity); on a node, prefer a disk without a replica of the volume (the same
 *       disk only with disk soft anti-affinity). Nodes without a zone take no part in zone anti-affinity.
 *       Within the best tier, the disk left with the most usable storage ({@code available − reserved −
 *       scheduled − size}) wins, so placements even out; ties go by node then disk name (deterministic).
 * </ol>
 *
 * Each placed replica counts at once: its size is added to the disk's scheduled storage and it joins the
 * existing replicas. When a replica cannot be placed, the reasons of that attempt come back (each cause
 * once, naming the nodes, disks, sizes and settings involved) and no further replica is tried.
 */
public final class Scheduler {
    private Scheduler() {}

    public static Placement place(SchedulingRequest request) {
        validate(request);
        List<Target> placed = new ArrayList<>();
        List<ExistingReplica> existing = new ArrayList<>(request.existing());
        Map<String, Long> extra = new HashMap<>();
        Reasons reasons = new Reasons();
        for (int i = 0; i < request.count(); i++) {
            reasons = new Reasons();
            Optional<Target> t = placeOne(request, existing, extra, reasons);
            if (t.isEmpty()) {
                return new Placement(placed, reasons.list());
            }
            placed.add(t.get());
            existing.add(new ExistingReplica(t.get().node(), t.get().disk()));
            extra.merge(key(t.get().node(), t.get().disk()), request.volume().size(), Long::sum);
        }
        return new Placement(placed, List.of());
    }

    private static void validate(SchedulingRequest r) {
        if (r == null || r.volume() == null || r.nodes() == null || r.existing() == null || r.settings() == null) {
            throw new IllegalArgumentException("a scheduling request needs a volume, nodes, replicas and settings");
        }
        if (r.volume().size() <= 0) {
            throw new IllegalArgumentException("volume " + r.volume().name() + " has no size: "
                    + r.volume().size());
        }
        if (r.count() < 0) {
            throw new IllegalArgumentException("cannot place " + r.count() + " replicas");
        }
    }

    private static String key(String node, String disk) {
        return node + "/" + disk;
    }

    /** A disk that fits, with its preference tier (lower is better) and the usable storage it keeps. */
    private record Candidate(NodeCandidate node, DiskCandidate disk, int tier, long usableAfter) {}

    private static Optional<Target> placeOne(
            SchedulingRequest r, List<ExistingReplica> existing, Map<String, Long> extra, Reasons reasons) {
        VolumeRequest v = r.volume();
        SchedulerSettings s = r.settings();
        if (r.nodes().isEmpty()) {
            reasons.add(ReasonCode.NO_NODES, "no node is registered");
            return Optional.empty();
        }
        Set<String> usedNodes = new LinkedHashSet<>();
        existing.forEach(e -> usedNodes.add(e.node()));
        Set<String> usedZones = new LinkedHashSet<>();
        for (NodeCandidate n : r.nodes()) {
            if (usedNodes.contains(n.name()) && !n.zone().isEmpty()) {
                usedZones.add(n.zone());
            }
        }
        List<Candidate> candidates = new ArrayList<>();
        for (NodeCandidate n : r.nodes()) {
            if (!n.ready()) {
                reasons.add(ReasonCode.NODE_NOT_READY, "node " + n.name() + " is not ready");
                continue;
            }
            if (!n.allowScheduling()) {
                reasons.add(ReasonCode.NODE_SCHEDULING_DISABLED, "node " + n.name() + " has scheduling turned off");
                continue;
            }
            if (!n.tags().containsAll(v.nodeSelector())) {
                reasons.add(
                        ReasonCode.NODE_TAGS_MISMATCH,
                        "node " + n.name() + " lacks tags " + missing(v.nodeSelector(), n.tags())
                                + " of the node selector");
                continue;
            }
            boolean nodeUsed = usedNodes.contains(n.name());
            int nodeTier = !nodeUsed ? (n.zone().isEmpty() || !usedZones.contains(n.zone()) ? 0 : 1) : 2;
            if (nodeTier == 1 && !s.replicaZoneSoftAntiAffinity()) {
                reasons.add(
                        ReasonCode.ZONE_ANTI_AFFINITY,
                        "zone " + n.zone() + " of node " + n.name() + " already holds a replica of " + v.name()
                                + " and replica-zone-soft-anti-affinity is false");
                continue;
            }
            if (nodeTier == 2 && !s.replicaSoftAntiAffinity()) {
                reasons.add(
                        ReasonCode.NODE_ANTI_AFFINITY,
                        "node " + n.name() + " already holds a replica of " + v.name()
                                + " and replica-soft-anti-affinity is false");
                continue;
            }
            for (DiskCandidate d : n.disks()) {
                fit(v, s, n, d, existing, extra, reasons, nodeTier).ifPresent(candidates::add);
            }
            if (n.disks().isEmpty()) {
                reasons.add(ReasonCode.INSUFFICIENT_STORAGE, "node " + n.name() + " has no disk");
            }
        }
        return candidates.stream()
                .min(Comparator.comparingInt(Candidate::tier)
                        .thenComparing(
                                Comparator.comparingLong(Candidate::usableAfter).reversed())
                        .thenComparing(c -> c.node().name())
                        .thenComparing(c -> c.disk().name()))
                .map(c -> new Target(c.node().name(), c.disk().name()));
    }

    private static Optional<Candidate> fit(
            VolumeRequest v,
            SchedulerSettings s,
            NodeCandidate n,
            DiskCandidate d,
            List<ExistingReplica> existing,
            Map<String, Long> extra,
            Reasons reasons,
            int nodeTier) {
        String where = "disk " + d.name() + " on node " + n.name();
        if (!d.allowScheduling()) {
            reasons.add(ReasonCode.DISK_SCHEDULING_DISABLED, where + " has scheduling turned off");
            return Optional.empty();
        }
        if (!d.tags().containsAll(v.diskSelector())) {
            reasons.add(
                    ReasonCode.DISK_TAGS_MISMATCH,
                    where + " lacks tags " + missing(v.diskSelector(), d.tags()) + " of the disk selector");
            return Optional.empty();
        }
        boolean diskUsed = existing.stream()
                .anyMatch(e -> e.node().equals(n.name()) && e.disk().equals(d.name()));
        if (diskUsed && !s.replicaDiskSoftAntiAffinity()) {
            reasons.add(
                    ReasonCode.DISK_ANTI_AFFINITY,
                    where + " already holds a replica of " + v.name()
                            + " and replica-disk-soft-anti-affinity is false");
            return Optional.empty();
        }
        long scheduled = d.storageScheduled() + extra.getOrDefault(key(n.name(), d.name()), 0L);
        long keepFree = percent(d.storageMaximum(), s.minimalAvailablePercentage());
        long leftFree = d.storageAvailable() - v.size();
        if (leftFree <= keepFree) {
            reasons.add(
                    ReasonCode.INSUFFICIENT_STORAGE,
                    where + " would keep " + Sizes.format(Math.max(0, leftFree)) + " free, not more than "
                            + s.minimalAvailablePercentage() + "% of " + Sizes.format(d.storageMaximum())
                            + " (storage-minimal-available-percentage)");
            return Optional.empty();
        }
        long limit = percent(Math.max(0, d.storageMaximum() - d.storageReserved()), s.overProvisioningPercentage());
        if (v.size() > limit - scheduled) {
            reasons.add(
                    ReasonCode.OVER_PROVISIONED,
                    where + " has " + Sizes.format(scheduled) + " scheduled; " + Sizes.format(v.size())
                            + " more exceeds " + s.overProvisioningPercentage() + "% of its "
                            + Sizes.format(Math.max(0, d.storageMaximum() - d.storageReserved()))
                            + " unreserved (storage-over-provisioning-percentage)");
            return Optional.empty();
        }
        int tier = nodeTier * 2 + (diskUsed ? 1 : 0);
        return Optional.of(
                new Candidate(n, d, tier, d.storageAvailable() - d.storageReserved() - scheduled - v.size()));
    }

    /** {@code ⌊value × pct / 100⌋}, exact and without overflow for any disk size and percentage up to 10^4. */
    static long percent(long value, long pct) {
        return value / 100 * pct + value % 100 * pct / 100;
    }

    private static Set<String> missing(Set<String> wanted, Set<String> have) {
        Set<String> m = new LinkedHashSet<>(wanted.stream().sorted().toList());
        m.removeAll(have);
        return m;
    }

    /** The reasons of one attempt: each cause once, its instances joined. */
    private static final class Reasons {
        private final Map<ReasonCode, Set<String>> byCode = new LinkedHashMap<>();

        void add(ReasonCode code, String detail) {
            byCode.computeIfAbsent(code, c -> new LinkedHashSet<>()).add(detail);
        }

        List<Reason> list() {
            List<Reason> out = new ArrayList<>();
            byCode.forEach((code, details) -> out.add(new Reason(code, String.join("; ", details))));
            return out;
        }
    }
}
