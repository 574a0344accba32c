package io.bighorn.manager.scheduler;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Each placement rule and each reason, as a table of cases. */
class SchedulerTest {
    private static final long GIB = 1L << 30;
    private static final SchedulerSettings DEFAULTS = new SchedulerSettings(100, 25, false, true, true);

    /** A disk of 100 GiB, 90 free, nothing reserved or scheduled. */
    static DiskCandidate disk(String name) {
        return new DiskCandidate(name, Set.of(), true, 100 * GIB, 90 * GIB, 0, 0);
    }

    static NodeCandidate node(String name, String zone, DiskCandidate... disks) {
        return new NodeCandidate(name, zone, Set.of(), true, true, List.of(disks));
    }

    static NodeCandidate node(String name) {
        return node(name, "", disk("default"));
    }

    /** One case: the request's parts, what must be placed, and the reason codes expected (empty: all placed). */
    record Case(
            String name,
            long size,
            int count,
            List<NodeCandidate> nodes,
            List<ExistingReplica> existing,
            SchedulerSettings settings,
            Set<String> nodeSelector,
            Set<String> diskSelector,
            List<String> expectedTargets,
            List<ReasonCode> expectedReasons) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Case placed(String name, int count, List<NodeCandidate> nodes, String... targets) {
        return new Case(name, GIB, count, nodes, List.of(), DEFAULTS, Set.of(), Set.of(), List.of(targets), List.of());
    }

    static Stream<Case> cases() {
        List<Case> c = new ArrayList<>();
        c.add(placed(
                "three replicas on three nodes",
                3,
                List.of(node("a"), node("b"), node("c")),
                "a/default",
                "b/default",
                "c/default"));
        c.add(placed(
                "a new zone wins over a new node in a used zone",
                2,
                List.of(node("a", "z1", disk("d")), node("b", "z1", disk("d")), node("c", "z2", disk("d"))),
                "a/d",
                "c/d"));
        c.add(new Case(
                "hard zone anti-affinity refuses a used zone",
                GIB,
                2,
                List.of(node("a", "z1", disk("d")), node("b", "z1", disk("d"))),
                List.of(),
                new SchedulerSettings(100, 25, false, false, true),
                Set.of(),
                Set.of(),
                List.of("a/d"),
                List.of(ReasonCode.NODE_ANTI_AFFINITY, ReasonCode.ZONE_ANTI_AFFINITY)));
        c.add(new Case(
                "soft node anti-affinity allows two on a node",
                GIB,
                3,
                List.of(node("a"), node("b", "", disk("d1"), disk("d2"))),
                List.of(),
                new SchedulerSettings(100, 25, true, true, true),
                Set.of(),
                Set.of(),
                List.of("a/default", "b/d1", "b/d2"),
                List.of()));
        c.add(new Case(
                "hard node anti-affinity places what it can and says why",
                GIB,
                3,
                List.of(node("a"), node("b")),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of("a/default", "b/default"),
                List.of(ReasonCode.NODE_ANTI_AFFINITY)));
        c.add(new Case(
                "a node's other disk before the same disk",
                GIB,
                2,
                List.of(node("a", "", disk("d1"), disk("d2"))),
                List.of(),
                new SchedulerSettings(100, 25, true, true, false),
                Set.of(),
                Set.of(),
                List.of("a/d1", "a/d2"),
                List.of()));
        c.add(new Case(
                "hard disk anti-affinity refuses the same disk",
                GIB,
                2,
                List.of(node("a")),
                List.of(),
                new SchedulerSettings(100, 25, true, true, false),
                Set.of(),
                Set.of(),
                List.of("a/default"),
                List.of(ReasonCode.DISK_ANTI_AFFINITY)));
        c.add(new Case(
                "existing replicas count for anti-affinity",
                GIB,
                1,
                List.of(node("a"), node("b")),
                List.of(new ExistingReplica("a", "default")),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of("b/default"),
                List.of()));
        c.add(new Case(
                "no nodes",
                GIB,
                1,
                List.of(),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of(),
                List.of(ReasonCode.NO_NODES)));
        c.add(new Case(
                "a node not ready",
                GIB,
                1,
                List.of(new NodeCandidate("a", "", Set.of(), false, true, List.of(disk("d")))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of(),
                List.of(ReasonCode.NODE_NOT_READY)));
        c.add(new Case(
                "a node closed to scheduling",
                GIB,
                1,
                List.of(new NodeCandidate("a", "", Set.of(), true, false, List.of(disk("d")))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of(),
                List.of(ReasonCode.NODE_SCHEDULING_DISABLED)));
        c.add(new Case(
                "node tags select nodes",
                GIB,
                1,
                List.of(node("a"), new NodeCandidate("b", "", Set.of("ssd", "x"), true, true, List.of(disk("d")))),
                List.of(),
                DEFAULTS,
                Set.of("ssd"),
                Set.of(),
                List.of("b/d"),
                List.of()));
        c.add(new Case(
                "no node has the tags",
                GIB,
                1,
                List.of(node("a")),
                List.of(),
                DEFAULTS,
                Set.of("ssd"),
                Set.of(),
                List.of(),
                List.of(ReasonCode.NODE_TAGS_MISMATCH)));
        c.add(new Case(
                "disk tags select disks",
                GIB,
                1,
                List.of(node(
                        "a", "", disk("d1"), new DiskCandidate("d2", Set.of("nvme"), true, 100 * GIB, 90 * GIB, 0, 0))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of("nvme"),
                List.of("a/d2"),
                List.of()));
        c.add(new Case(
                "no disk has the tags",
                GIB,
                1,
                List.of(node("a")),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of("nvme"),
                List.of(),
                List.of(ReasonCode.DISK_TAGS_MISMATCH)));
        c.add(new Case(
                "a disk closed to scheduling",
                GIB,
                1,
                List.of(node("a", "", new DiskCandidate("d", Set.of(), false, 100 * GIB, 90 * GIB, 0, 0))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of(),
                List.of(ReasonCode.DISK_SCHEDULING_DISABLED)));
        // minimal available: 100 GiB disk, 25 %: the volume must leave more than 25 GiB free
        c.add(new Case(
                "minimal available: one byte above the line fits",
                5 * GIB - 1,
                1,
                List.of(node("a", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 30 * GIB, 0, 0))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of("a/d"),
                List.of()));
        c.add(new Case(
                "minimal available: on the line does not",
                5 * GIB,
                1,
                List.of(node("a", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 30 * GIB, 0, 0))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of(),
                List.of(ReasonCode.INSUFFICIENT_STORAGE)));
        // over-provisioning: (100 − 30 reserved) × 100 % = 70 GiB; 60 scheduled leaves exactly 10
        c.add(new Case(
                "over-provisioning: exactly at the limit fits",
                10 * GIB,
                1,
                List.of(node("a", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 90 * GIB, 30 * GIB, 60 * GIB))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of("a/d"),
                List.of()));
        c.add(new Case(
                "over-provisioning: one byte over does not",
                10 * GIB + 1,
                1,
                List.of(node("a", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 90 * GIB, 30 * GIB, 60 * GIB))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of(),
                List.of(ReasonCode.OVER_PROVISIONED)));
        c.add(new Case(
                "a volume bigger than the free space never fits, even at 200 % over-provisioning",
                150 * GIB,
                1,
                List.of(node("a", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 90 * GIB, 0, 0))),
                List.of(),
                new SchedulerSettings(200, 0, false, true, true),
                Set.of(),
                Set.of(),
                List.of(),
                List.of(ReasonCode.INSUFFICIENT_STORAGE)));
        c.add(new Case(
                "the disk with the most usable storage wins",
                GIB,
                1,
                List.of(
                        node("a", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 50 * GIB, 0, 0)),
                        node("b", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 80 * GIB, 0, 0))),
                List.of(),
                DEFAULTS,
                Set.of(),
                Set.of(),
                List.of("b/d"),
                List.of()));
        c.add(new Case(
                "replicas placed in one request count as scheduled",
                60 * GIB,
                2,
                List.of(node("a", "", new DiskCandidate("d", Set.of(), true, 100 * GIB, 90 * GIB, 0, 0))),
                List.of(),
                new SchedulerSettings(100, 0, true, true, true),
                Set.of(),
                Set.of(),
                List.of("a/d"),
                List.of(ReasonCode.OVER_PROVISIONED)));
        c.add(placed("ties go by node name", 1, List.of(node("c"), node("a"), node("b")), "a/default"));
        return c.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void places(Case c) {
        Placement p = Scheduler.place(new SchedulingRequest(
                new VolumeRequest("vol", c.size(), c.nodeSelector(), c.diskSelector()),
                c.count(),
                c.nodes(),
                c.existing(),
                c.settings()));
        assertThat(p.targets())
                .extracting(t -> t.node() + "/" + t.disk())
                .containsExactlyElementsOf(c.expectedTargets());
        assertThat(p.reasons()).extracting(Reason::code).containsExactlyInAnyOrderElementsOf(c.expectedReasons());
        assertThat(p.complete()).isEqualTo(c.expectedReasons().isEmpty());
        p.reasons().forEach(r -> assertThat(r.message()).isNotBlank());
    }

    @Test
    void everyReasonCodeHasACase() {
        assertThat(cases().flatMap(c -> c.expectedReasons().stream()).distinct())
                .containsExactlyInAnyOrder(ReasonCode.values());
    }

    @Test
    void reasonsNameWhatAndWhy() {
        Placement p = Scheduler.place(new SchedulingRequest(
                new VolumeRequest("vol-a", GIB, Set.of(), Set.of()), 2, List.of(node("n1")), List.of(), DEFAULTS));
        assertThat(p.targets()).hasSize(1);
        assertThat(p.reasons())
                .singleElement()
                .satisfies(r ->
                        assertThat(r.message()).contains("node n1", "vol-a", "replica-soft-anti-affinity is false"));
        Placement full = Scheduler.place(new SchedulingRequest(
                new VolumeRequest("vol-a", 80 * GIB, Set.of(), Set.of()), 1, List.of(node("n1")), List.of(), DEFAULTS));
        assertThat(full.reasons().getFirst().message())
                .contains(
                        "disk default on node n1", "10 GiB", "25% of 100 GiB", "storage-minimal-available-percentage");
    }

    @Test
    void deterministic() {
        List<NodeCandidate> nodes = Arrays.asList(node("x"), node("y"), node("z"), node("w"));
        SchedulingRequest r =
                new SchedulingRequest(new VolumeRequest("v", GIB, Set.of(), Set.of()), 3, nodes, List.of(), DEFAULTS);
        assertThat(Scheduler.place(r)).isEqualTo(Scheduler.place(r));
    }

    @Test
    void badRequestsAreRefused() {
        assertThatThrownBy(() -> Scheduler.place(new SchedulingRequest(
                        new VolumeRequest("v", 0, Set.of(), Set.of()), 1, List.of(), List.of(), DEFAULTS)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("no size");
        assertThatThrownBy(() -> Scheduler.place(new SchedulingRequest(
                        new VolumeRequest("v", GIB, Set.of(), Set.of()), -1, List.of(), List.of(), DEFAULTS)))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void percentIsExactForHugeDisks() {
        long pib = 1L << 50;
        assertThat(Scheduler.percent(pib + 99, 10_000))
                .isEqualTo(java.math.BigInteger.valueOf(pib + 99)
                        .multiply(java.math.BigInteger.valueOf(10_000))
                        .divide(java.math.BigInteger.valueOf(100))
                        .longValueExact());
        assertThat(Scheduler.percent(199, 50)).isEqualTo(99);
    }
}
