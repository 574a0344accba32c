package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.manager.model.Condition;
import io.bighorn.manager.model.Engine;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.model.Replica;
import io.bighorn.manager.model.Volume;
import io.bighorn.manager.model.Volume.State;
import io.bighorn.manager.scheduler.DiskCandidate;
import io.bighorn.manager.scheduler.ExistingReplica;
import io.bighorn.manager.scheduler.NodeCandidate;
import io.bighorn.manager.scheduler.Placement;
import io.bighorn.manager.scheduler.Reason;
import io.bighorn.manager.scheduler.Scheduler;
import io.bighorn.manager.scheduler.SchedulerSettings;
import io.bighorn.manager.scheduler.SchedulingRequest;
import io.bighorn.manager.scheduler.Target;
import io.bighorn.manager.scheduler.VolumeRequest;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The replica half of a volume's reconciliation: observe, place, start, rebuild, salvage, delete. */
final class ReplicaSteps {
    private static final Logger log = LoggerFactory.getLogger(ReplicaSteps.class);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Store store;
    private final Settings settings;
    private final Observations observed;
    private final AgentApi.Connector agents;
    private final Clock clock;
    private final Map<String, List<Reason>> unschedulable = new ConcurrentHashMap<>();

    ReplicaSteps(Store store, Settings settings, Observations observed, AgentApi.Connector agents, Clock clock) {
        this.store = store;
        this.settings = settings;
        this.observed = observed;
        this.agents = agents;
        this.clock = clock;
    }

    List<Replica> replicasOf(String volume) {
        return store.list(Kind.REPLICA).stream()
                .filter(r -> r.spec().volume().equals(volume))
                .toList();
    }

    /**
     * Refreshes each replica's status from its agent and the engine ({@code modes}: wire URL to mode) and marks
     * failed those that are lost: node down, instance in error or gone, ERR in the engine.
     */
    List<Replica> observe(Volume v, Map<String, String> modes) {
        Instant now = clock.instant();
        for (Replica r : replicasOf(v.name())) {
            boolean up = nodeReady(r.spec().node());
            Optional<Instance> inst = up ? observed.instance(r.spec().node(), r.name()) : Optional.empty();
            boolean reported = up && observed.report(r.spec().node()).isPresent();
            String state = !up
                    ? "unknown"
                    : inst.map(i -> i.getState().name().toLowerCase(Locale.ROOT))
                            .orElse(reported ? "missing" : "unknown");
            String address = inst.filter(i -> i.getState() == InstanceState.RUNNING)
                    .map(Instance::getAddress)
                    .orElse(state.equals("unknown") ? r.status().address() : "");
            String mode = modes.getOrDefault(r.status().address(), modes.getOrDefault(address, ""));
            long reportedActual =
                    inst.map(Instance::getActualSize).orElse(r.status().actualSize());
            // the allocated size moves with every write: keep small moves out of the store
            long actual = Math.abs(reportedActual - r.status().actualSize())
                            < Math.max(1 << 20, r.spec().size() / 100)
                    ? r.status().actualSize()
                    : reportedActual;
            String error = inst.map(Instance::getError).orElse("");
            String failure = !up
                    ? "node " + r.spec().node() + " is down"
                    : state.equals("error")
                            ? "replica error: " + error
                            : state.equals("missing") && r.spec().healthyAt() != null
                                    ? "its data is gone from node " + r.spec().node()
                                    : mode.equals("ERR") ? "the engine marked it ERR" : null;
            Replica.Spec spec = r.spec();
            if (failure != null && !spec.failed()) {
                log.warn("volume {}: replica {} failed: {}", v.name(), r.name(), failure);
                spec = spec.withFailedAt(now);
            } else if (failure == null && spec.failed() && (mode.equals("RW") || mode.equals("WO"))) {
                spec = spec.withFailedAt(null); // back in the engine (a rebuild the manager started before a crash)
            }
            if (mode.equals("RW") && spec.healthyAt() == null) {
                spec = spec.withHealthyAt(now);
            }
            Replica.Status status = new Replica.Status(state, address, mode, actual, error);
            Replica.Spec finalSpec = spec;
            Mutations.mutate(
                    store,
                    Kind.REPLICA,
                    r.name(),
                    x -> x.spec().equals(finalSpec) && x.status().equals(status)
                            ? x
                            : x.withSpec(finalSpec).withStatus(status));
        }
        return replicasOf(v.name());
    }

    /** Places and records the replicas a volume being created still lacks. */
    void create(Volume v, List<Replica> replicas) {
        if (v.status().state() != State.CREATING) {
            return;
        }
        long active = replicas.stream().filter(r -> !r.spec().failed()).count();
        int need = (int) (v.spec().numberOfReplicas() - active);
        if (need > 0) {
            place(v, replicas, need);
        }
    }

    /** Runs the scheduler and records a Replica object for each replica placed; the reasons for the rest. */
    private List<Replica> place(Volume v, List<Replica> replicas, int count) {
        return place(v, replicas, count, null);
    }

    /** Places replicas, on {@code onlyNode} when given (data locality: no reasons are kept then). */
    private List<Replica> place(Volume v, List<Replica> replicas, int count, String onlyNode) {
        SchedulingRequest request = request(v, replicas, count);
        if (onlyNode != null) {
            request = new SchedulingRequest(
                    request.volume(),
                    count,
                    request.nodes().stream()
                            .filter(n -> n.name().equals(onlyNode))
                            .toList(),
                    request.existing(),
                    request.settings());
        }
        Placement p = Scheduler.place(request);
        if (onlyNode == null && p.complete()) {
            unschedulable.remove(v.name());
        } else if (onlyNode == null) {
            unschedulable.put(v.name(), p.reasons());
        }
        List<Replica> made = new ArrayList<>();
        for (Target t : p.targets()) {
            String name = v.name() + "-r-" + HexFormat.of().formatHex(RANDOM.generateSeed(4));
            made.add(store.create(
                    Kind.REPLICA,
                    new Replica(
                            Meta.named(name),
                            new Replica.Spec(
                                    v.name(), t.node(), t.disk(), v.spec().size(), null, null),
                            Replica.Status.unknown())));
            log.info("volume {}: replica {} placed on {}/{}", v.name(), name, t.node(), t.disk());
        }
        return made;
    }

    private SchedulingRequest request(Volume v, List<Replica> replicas, int count) {
        List<Replica> all = store.list(Kind.REPLICA);
        List<NodeCandidate> nodes = new ArrayList<>();
        for (Node n : store.list(Kind.NODE)) {
            List<DiskCandidate> disks = new ArrayList<>();
            n.status().disks().forEach((name, d) -> {
                Node.DiskSpec ds = n.spec().disks().get(name);
                long scheduled = all.stream()
                        .filter(r -> r.spec().node().equals(n.name())
                                && r.spec().disk().equals(name))
                        .mapToLong(r -> r.spec().size())
                        .sum();
                disks.add(new DiskCandidate(
                        name,
                        ds == null ? java.util.Set.of() : ds.tags(),
                        ds == null || ds.allowScheduling(),
                        d.storageMaximum(),
                        d.storageAvailable(),
                        ds == null ? 0 : Math.max(0, ds.storageReserved()),
                        scheduled));
            });
            nodes.add(new NodeCandidate(
                    n.name(),
                    n.status().zone(),
                    n.spec().tags(),
                    n.status().ready(),
                    n.spec().allowScheduling(),
                    disks));
        }
        List<ExistingReplica> existing = replicas.stream()
                .map(r -> new ExistingReplica(r.spec().node(), r.spec().disk()))
                .toList();
        SchedulerSettings s = new SchedulerSettings(
                (int) settings.number(Settings.OVER_PROVISIONING),
                (int) settings.number(Settings.MINIMAL_AVAILABLE),
                settings.flag(Settings.REPLICA_SOFT_ANTI_AFFINITY),
                settings.flag(Settings.ZONE_SOFT_ANTI_AFFINITY),
                settings.flag(Settings.DISK_SOFT_ANTI_AFFINITY));
        return new SchedulingRequest(
                new VolumeRequest(
                        v.name(),
                        v.spec().size(),
                        v.spec().nodeSelector(),
                        v.spec().diskSelector()),
                count,
                nodes,
                existing,
                s);
    }

    Condition scheduledCondition(Volume v, Instant now) {
        List<Reason> reasons = unschedulable.get(v.name());
        if (reasons == null || reasons.isEmpty()) {
            return new Condition("Scheduled", true, "", "", now);
        }
        return new Condition(
                "Scheduled",
                false,
                "ReplicaSchedulingFailure",
                reasons.stream().map(r -> r.code() + ": " + r.message()).collect(Collectors.joining("; ")),
                now);
    }

    /** Starts (creating or opening its data) every healthy replica whose node is up and that is not running. */
    List<Replica> ensureRunning(Volume v, Map<String, String> modes) {
        for (Replica r : replicasOf(v.name())) {
            if (r.spec().failed()
                    || !nodeReady(r.spec().node())
                    || r.status().state().equals("running")) {
                continue;
            }
            start(r);
        }
        return observe(v, modes);
    }

    private Optional<Instance> start(Replica r) {
        // the first replicas of a volume made from a backup restore it; later ones are rebuilt by the engine
        String fromBackup = r.spec().healthyAt() != null
                ? ""
                : store.get(Kind.VOLUME, r.spec().volume())
                        .filter(v -> v.status().state() == State.CREATING)
                        .map(v -> v.spec().fromBackup())
                        .orElse("");
        try {
            Instance inst = agents.connect(address(r.spec().node()))
                    .createReplica(
                            r.name(),
                            r.spec().volume(),
                            r.spec().size(),
                            r.spec().disk(),
                            fromBackup);
            observed.instanceChanged(r.spec().node(), inst);
            return Optional.of(inst);
        } catch (RuntimeException e) {
            log.warn("replica {}: starting on {} failed: {}", r.name(), r.spec().node(), e.getMessage());
            return Optional.empty();
        }
    }

    /**
     * Brings an attached, degraded volume back to its replica count, one rebuild at a time: a non-failed
     * replica missing from the engine is added back; then a failed replica whose node is back is resynced;
     * only after the replenishment wait is a new replica placed and rebuilt. Failed replicas are deleted once
     * enough replicas are RW.
     */
    void replenish(Volume v, Engine e, EngineApi api, Map<String, String> modes, List<Replica> replicas) {
        long rw = replicas.stream()
                .filter(r ->
                        !r.spec().failed() && "RW".equals(modes.get(r.status().address())))
                .count();
        if (rw >= v.spec().numberOfReplicas()) {
            replicas.stream().filter(r -> r.spec().failed()).forEach(this::delete);
            if (!modes.containsValue("WO")) {
                trimOrLocalize(v, e, api, modes, replicas);
            }
            return;
        }
        if (modes.containsValue("WO")) {
            return; // a rebuild is running
        }
        for (Replica r : replicas) {
            if (!r.spec().failed()
                    && r.status().state().equals("running")
                    && !modes.containsKey(r.status().address())) {
                addToEngine(v, api, r);
                return;
            }
        }
        for (Replica r : replicas) {
            if (r.spec().failed()
                    && r.spec().healthyAt() != null
                    && nodeReady(r.spec().node())
                    && observed.instance(r.spec().node(), r.name()).isPresent()
                    && underRebuildLimit(r.spec().node())) {
                Optional<Instance> inst = start(r);
                if (inst.isPresent() && inst.get().getState() == InstanceState.RUNNING) {
                    Mutations.mutate(
                            store,
                            Kind.REPLICA,
                            r.name(),
                            x -> x.withSpec(x.spec().withFailedAt(null)));
                    addToEngine(v, api, store.get(Kind.REPLICA, r.name()).orElseThrow());
                    return;
                }
            }
        }
        Instant degradedAt = Objects.requireNonNullElse(v.status().lastDegradedAt(), clock.instant());
        Duration waited = Duration.between(degradedAt, clock.instant());
        if (waited.compareTo(settings.seconds(Settings.REPLENISHMENT_WAIT)) < 0) {
            return;
        }
        long active = replicas.stream().filter(r -> !r.spec().failed()).count();
        if (active >= v.spec().numberOfReplicas()) {
            return; // enough copies exist; they are being brought into the engine
        }
        for (Replica made : place(v, replicas, 1)) {
            if (!underRebuildLimit(made.spec().node())) {
                return;
            }
            start(made).filter(i -> i.getState() == InstanceState.RUNNING).ifPresent(i -> {
                Replica fresh = store.get(Kind.REPLICA, made.name()).orElseThrow();
                addToEngine(v, api, fresh.withStatus(new Replica.Status("running", i.getAddress(), "", 0, "")));
            });
        }
    }

    /**
     * A healthy volume with more RW replicas than wanted loses one (never the one on the attach node under
     * data locality); a best-effort local volume with none on its attach node gets one there first.
     */
    private void trimOrLocalize(Volume v, Engine e, EngineApi api, Map<String, String> modes, List<Replica> replicas) {
        String local = e.spec().node();
        boolean bestEffort = v.spec().dataLocality().equals("best-effort");
        List<Replica> healthy = replicas.stream()
                .filter(r ->
                        !r.spec().failed() && "RW".equals(modes.get(r.status().address())))
                .toList();
        if (healthy.size() > v.spec().numberOfReplicas()) {
            healthy.stream()
                    .filter(r -> !(bestEffort && r.spec().node().equals(local)))
                    .max(java.util.Comparator.comparing(Replica::name))
                    .ifPresent(victim -> {
                        try {
                            api.removeReplica(victim.status().address());
                            delete(victim);
                            log.info(
                                    "volume {}: surplus replica {} on {} removed",
                                    v.name(),
                                    victim.name(),
                                    victim.spec().node());
                        } catch (RuntimeException ex) {
                            log.warn(
                                    "volume {}: removing surplus replica {}: {}",
                                    v.name(),
                                    victim.name(),
                                    ex.getMessage());
                        }
                    });
            return;
        }
        boolean hasLocal = replicas.stream()
                .anyMatch(r -> !r.spec().failed() && r.spec().node().equals(local));
        if (bestEffort && !hasLocal && underRebuildLimit(local)) {
            for (Replica made : place(v, replicas, 1, local)) {
                log.info("volume {}: data locality: a replica on the attach node {}", v.name(), local);
                start(made)
                        .filter(i -> i.getState() == InstanceState.RUNNING)
                        .ifPresent(i -> addToEngine(
                                v, api, made.withStatus(new Replica.Status("running", i.getAddress(), "", 0, ""))));
            }
        }
    }

    private void addToEngine(Volume v, EngineApi api, Replica r) {
        try {
            api.addReplica(r.status().address());
            log.info(
                    "volume {}: rebuilding replica {} on {}",
                    v.name(),
                    r.name(),
                    r.spec().node());
        } catch (RuntimeException ex) {
            log.warn("volume {}: adding replica {} failed: {}", v.name(), r.name(), ex.getMessage());
        }
    }

    private boolean underRebuildLimit(String node) {
        long limit = settings.number(Settings.REBUILD_LIMIT);
        if (limit == 0) {
            return true;
        }
        long running = store.list(Kind.REPLICA).stream()
                .filter(r -> r.spec().node().equals(node) && r.status().mode().equals("WO"))
                .count();
        return running < limit;
    }

    /**
     * Every replica failed: un-fail those that once held all the data, whose node is up and whose failure came
     * within a minute of the newest failure; the engine, started again over them, picks the newest.
     */
    boolean salvage(Volume v, List<Replica> replicas) {
        List<Replica> candidates = replicas.stream()
                .filter(r -> r.spec().healthyAt() != null
                        && nodeReady(r.spec().node())
                        && observed.instance(r.spec().node(), r.name()).isPresent())
                .toList();
        if (candidates.isEmpty()) {
            return false;
        }
        Instant newest = candidates.stream()
                .map(r -> r.spec().failedAt())
                .max(Instant::compareTo)
                .orElseThrow();
        for (Replica r : candidates) {
            if (!r.spec().failedAt().isBefore(newest.minus(Duration.ofMinutes(1)))) {
                Mutations.mutate(
                        store, Kind.REPLICA, r.name(), x -> x.withSpec(x.spec().withFailedAt(null)));
                log.warn("volume {}: auto-salvage brings back replica {}", v.name(), r.name());
            }
        }
        return true;
    }

    /** Removes a replica's data (when its node is up; otherwise the node removes it as an orphan) and object. */
    void delete(Replica r) {
        String node = r.spec().node();
        if (nodeReady(node)) {
            agents.connect(address(node)).deleteReplica(r.name());
            observed.instanceRemoved(node, r.name());
        }
        store.delete(Kind.REPLICA, r.name());
        log.info("volume {}: replica {} on {} deleted", r.spec().volume(), r.name(), node);
    }

    private boolean nodeReady(String node) {
        return store.get(Kind.NODE, node).map(n -> n.status().ready()).orElse(false);
    }

    private String address(String node) {
        return store.get(Kind.NODE, node).map(n -> n.status().address()).orElseThrow();
    }
}
