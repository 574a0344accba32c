package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.control.v1.EngineInfo;
import io.bighorn.manager.model.Condition;
import io.bighorn.manager.model.Engine;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.model.Replica;
import io.bighorn.manager.model.Volume;
import io.bighorn.manager.model.Volume.Robustness;
import io.bighorn.manager.model.Volume.State;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drives one volume towards its spec. Each pass reads the stored objects and what the agents and the engine
 * report, then takes the steps that are due, in order: observe replicas (mark the lost ones failed), salvage
 * when all failed, create and start replicas, stop an engine that should not run, start the one that should,
 * follow the engine (drop ERR replicas, expand, rebuild), and finally write the volume's status.
 *
 * <p>Crash safety: every object is written <em>before</em> the agent call that makes it real (a replica's
 * object before its data, an engine's before its process), and every agent call is idempotent. So a manager
 * killed at any point finds, on restart, objects for everything that may exist, and repeating the step
 * converges; the node controller removes instances that have no object (orphans).
 */
public final class VolumeController {
    private static final Logger log = LoggerFactory.getLogger(VolumeController.class);

    private final Store store;
    private final Settings settings;
    private final Observations observed;
    private final AgentApi.Connector agents;
    private final EngineApi.Connector engines;
    private final Clock clock;
    private final ReplicaSteps replicaSteps;
    private final SnapshotSync snapshots;

    /** A volume is salvaged at most once in this long, so a replica that fails again at once does not spin. */
    static final Duration SALVAGE_BACKOFF = Duration.ofMinutes(1);

    public VolumeController(
            Store store,
            Settings settings,
            Observations observed,
            AgentApi.Connector agents,
            EngineApi.Connector engines,
            Clock clock) {
        this.store = store;
        this.settings = settings;
        this.observed = observed;
        this.agents = agents;
        this.engines = engines;
        this.clock = clock;
        this.replicaSteps = new ReplicaSteps(store, settings, observed, agents, clock);
        this.snapshots = new SnapshotSync(store);
    }

    public static String engineName(String volume) {
        return volume + "-e";
    }

    /** One pass for one volume; safe to repeat, and to run again after a crash anywhere in it. */
    public void reconcile(String name) {
        Optional<Volume> found = store.get(Kind.VOLUME, name);
        if (found.isEmpty()) {
            return;
        }
        Volume v = found.get();
        Optional<Engine> engine = store.get(Kind.ENGINE, engineName(name));
        if (v.meta().deleting()) {
            teardown(v, engine);
            return;
        }
        EngineInfo info = engine.flatMap(this::engineInfo).orElse(null);
        if (info != null) {
            observed.engineSample(name, info, clock.instant());
        } else {
            observed.engineGone(name);
        }
        Map<String, String> modes = new HashMap<>();
        if (info != null) {
            info.getReplicasList().forEach(r -> modes.put(r.getAddress(), r.getMode()));
        }
        List<Replica> replicas = replicaSteps.observe(v, modes);
        boolean allFailed =
                !replicas.isEmpty() && replicas.stream().allMatch(r -> r.spec().failed());
        if (allFailed) {
            Instant last = v.status().lastAutoSalvagedAt();
            boolean recently =
                    last != null && Duration.between(last, clock.instant()).compareTo(SALVAGE_BACKOFF) < 0;
            if (settings.flag(Settings.AUTO_SALVAGE) && !recently) {
                engine.ifPresent(this::stopEngine);
                if (replicaSteps.salvage(v, replicas)) {
                    writeStatus(v, null, Robustness.UNKNOWN, Optional.empty(), true);
                }
            }
            writeStatus(v, null, Robustness.FAULTED, store.get(Kind.ENGINE, engineName(name)), false);
            return;
        }
        replicaSteps.create(v, replicas);
        replicas = replicaSteps.ensureRunning(v, modes);
        String want = v.spec().nodeId();
        if (engine.isPresent() && !engine.get().spec().node().equals(want)) {
            stopEngine(engine.get());
            engine = Optional.empty();
            info = null;
        }
        if (!want.isEmpty() && v.status().state() != State.CREATING && (engine.isEmpty() || engineLost(engine.get()))) {
            engine = startEngine(v, replicas);
            info = null;
        }
        if (engine.isPresent() && info != null) {
            followEngine(v, engine.get(), info, replicas);
        }
        Robustness robustness = robustness(v, replicas, info);
        writeStatus(v, info, robustness, engine, false);
    }

    /** The engine's node is up and reports it, but not running (the agent restarted, or the engine failed). */
    private boolean engineLost(Engine e) {
        String node = e.spec().node();
        if (!nodeReady(node) || observed.report(node).isEmpty()) {
            return false;
        }
        return observed.instance(node, e.name())
                .map(i -> i.getState() != InstanceState.RUNNING)
                .orElse(true);
    }

    private Optional<EngineInfo> engineInfo(Engine e) {
        Optional<Instance> inst = observed.instance(e.spec().node(), e.name());
        String address = inst.filter(i -> i.getState() == InstanceState.RUNNING)
                .map(Instance::getAddress)
                .orElse(e.status().address());
        if (address.isEmpty() || !nodeReady(e.spec().node())) {
            return Optional.empty();
        }
        try {
            return Optional.of(engines.connect(address).info());
        } catch (RuntimeException ex) {
            log.debug("volume {}: engine at {} did not answer: {}", e.spec().volume(), address, ex.getMessage());
            return Optional.empty();
        }
    }

    private Optional<Engine> startEngine(Volume v, List<Replica> replicas) {
        if (!nodeReady(v.spec().nodeId())) {
            return Optional.empty();
        }
        List<Replica> usable = replicas.stream()
                .filter(r -> !r.spec().failed() && nodeReady(r.spec().node()))
                .toList();
        boolean allRunning = !usable.isEmpty()
                && usable.stream().allMatch(r -> r.status().state().equals("running"));
        if (!allRunning) {
            return Optional.empty(); // wait for the replicas to come up
        }
        String name = engineName(v.name());
        Engine e = store.get(Kind.ENGINE, name)
                .orElseGet(() -> store.create(
                        Kind.ENGINE,
                        new Engine(
                                io.bighorn.manager.model.Meta.named(name),
                                new Engine.Spec(
                                        v.name(),
                                        v.spec().nodeId(),
                                        usable.stream().map(Replica::name).toList()),
                                Engine.Status.unknown())));
        // the data's own size wins over the objects' (an expansion the manager did not record before a crash)
        long size = usable.stream()
                .mapToLong(r -> Math.max(
                        r.spec().size(),
                        observed.instance(r.spec().node(), r.name())
                                .map(Instance::getSize)
                                .orElse(0L)))
                .max()
                .orElseThrow();
        try {
            Instance inst = agents.connect(address(v.spec().nodeId()))
                    .startEngine(
                            name,
                            v.name(),
                            size,
                            usable.stream().map(r -> r.status().address()).toList(),
                            (int) settings.number(Settings.ENGINE_REPLICA_TIMEOUT));
            observed.instanceChanged(v.spec().nodeId(), inst);
            log.info("volume {}: engine started on {} at {}", v.name(), v.spec().nodeId(), inst.getEndpoint());
            return Mutations.mutate(
                    store,
                    Kind.ENGINE,
                    name,
                    x -> x.withStatus(new Engine.Status(
                            inst.getState().name().toLowerCase(java.util.Locale.ROOT),
                            inst.getAddress(),
                            inst.getEndpoint(),
                            inst.getSize(),
                            Map.of(),
                            "")));
        } catch (RuntimeException ex) {
            log.warn(
                    "volume {}: starting the engine on {} failed: {}",
                    v.name(),
                    v.spec().nodeId(),
                    ex.getMessage());
            return Optional.of(e);
        }
    }

    private void followEngine(Volume v, Engine e, EngineInfo first, List<Replica> replicas) {
        EngineApi api = engines.connect(e.status().address());
        Map<String, Replica> byAddress = new HashMap<>();
        replicas.stream()
                .filter(r -> !r.status().address().isEmpty())
                .forEach(r -> byAddress.put(r.status().address(), r));
        EngineInfo info = first;
        boolean removed = false;
        for (var r : first.getReplicasList()) {
            Replica owner = byAddress.get(r.getAddress());
            boolean drop =
                    r.getMode().equals("ERR") || owner == null || owner.spec().failed();
            if (drop && first.getReplicasCount() > 1) {
                try {
                    api.removeReplica(r.getAddress());
                    removed = true;
                    log.info(
                            "volume {}: replica {} left the engine ({})",
                            v.name(),
                            owner == null ? r.getAddress() : owner.name(),
                            owner == null ? "unknown address" : r.getMode().equals("ERR") ? r.getReason() : "failed");
                } catch (RuntimeException ex) {
                    log.debug("volume {}: removing {}: {}", v.name(), r.getAddress(), ex.getMessage());
                }
            }
        }
        if (removed) {
            info = api.info();
        }
        if (v.spec().size() > info.getSize()) {
            try {
                info = api.expand(v.spec().size());
                log.info("volume {}: expanded to {} bytes", v.name(), v.spec().size());
            } catch (RuntimeException ex) {
                log.warn("volume {}: expansion failed: {}", v.name(), ex.getMessage());
            }
        }
        long served = info.getSize();
        for (Replica r : replicas) { // the engine grew its replicas: their objects follow
            if (r.spec().size() < served) {
                Mutations.mutate(
                        store,
                        Kind.REPLICA,
                        r.name(),
                        x -> x.withSpec(new Replica.Spec(
                                x.spec().volume(),
                                x.spec().node(),
                                x.spec().disk(),
                                served,
                                x.spec().failedAt(),
                                x.spec().healthyAt())));
            }
        }
        Map<String, String> modes = new HashMap<>();
        info.getReplicasList().forEach(r -> modes.put(r.getAddress(), r.getMode()));
        String rebuild = "";
        if (modes.containsValue("WO")) {
            try {
                var status = api.rebuildStatus();
                observed.rebuild(v.name(), status);
                rebuild = status.getTarget() + " " + status.getState() + " " + status.getBytesDone() + "/"
                        + status.getBytesTotal();
            } catch (RuntimeException ex) {
                log.debug("volume {}: rebuild status: {}", v.name(), ex.getMessage());
            }
        }
        String rebuildText = rebuild;
        long size = info.getSize();
        Mutations.mutate(
                store,
                Kind.ENGINE,
                e.name(),
                x -> x.withStatus(new Engine.Status(
                        "running", x.status().address(), x.status().endpoint(), size, modes, rebuildText)));
        replicaSteps.replenish(v, e, api, modes, replicas);
        try {
            snapshots.sync(v.name(), api.listSnapshots());
        } catch (RuntimeException ex) {
            log.debug("volume {}: listing snapshots: {}", v.name(), ex.getMessage());
        }
    }

    private Robustness robustness(Volume v, List<Replica> replicas, EngineInfo info) {
        long healthy;
        if (info != null) {
            java.util.Set<String> live = replicas.stream()
                    .filter(r -> !r.spec().failed())
                    .map(r -> r.status().address())
                    .collect(java.util.stream.Collectors.toSet());
            healthy = info.getReplicasList().stream()
                    .filter(r -> r.getMode().equals("RW") && live.contains(r.getAddress()))
                    .count();
        } else {
            healthy = replicas.stream()
                    .filter(r -> !r.spec().failed() && r.status().state().equals("running"))
                    .count();
        }
        if (healthy == 0) {
            return replicas.isEmpty() || v.status().state() == State.CREATING ? Robustness.UNKNOWN : Robustness.FAULTED;
        }
        return healthy >= v.spec().numberOfReplicas() ? Robustness.HEALTHY : Robustness.DEGRADED;
    }

    private void writeStatus(
            Volume v, EngineInfo info, Robustness robustness, Optional<Engine> engine, boolean salvaged) {
        Instant now = clock.instant();
        Mutations.mutate(store, Kind.VOLUME, v.name(), x -> {
            Volume.Status s = x.status();
            List<Replica> replicas = replicaSteps.replicasOf(x.name());
            boolean created = !replicas.isEmpty()
                    && replicas.stream().anyMatch(r -> r.status().state().equals("running"));
            State state = nextState(x, engine, info, created);
            if (!VolumeStates.canMove(s.state(), state)) {
                log.warn("volume {}: unexpected move {} -> {}", x.name(), s.state(), state);
            }
            Volume.Status next = s.with(state, robustness);
            if (robustness == Robustness.DEGRADED && s.robustness() != Robustness.DEGRADED) {
                next = next.withLastDegradedAt(now);
            }
            if (salvaged) {
                next = next.withLastAutoSalvagedAt(now);
            }
            String endpoint = state == State.ATTACHED
                    ? engine.map(e -> e.status().endpoint()).orElse("")
                    : "";
            String node = engine.map(e -> e.spec().node()).orElse("");
            next = next.withAttachment(state == State.ATTACHED || state == State.ATTACHING ? node : "", endpoint);
            long current = info != null
                    ? info.getSize()
                    : replicas.stream().mapToLong(r -> r.spec().size()).max().orElse(0);
            long actual = replicas.stream()
                    .filter(r -> !r.spec().failed())
                    .mapToLong(r -> r.status().actualSize())
                    .max()
                    .orElse(0);
            next = next.withSizes(current, actual);
            next = next.withCondition(replicaSteps.scheduledCondition(x, now));
            return next.equals(s) ? x : x.withStatus(next);
        });
    }

    private static State nextState(Volume v, Optional<Engine> engine, EngineInfo info, boolean created) {
        boolean want = !v.spec().nodeId().isEmpty();
        if (!created && v.status().state() == State.CREATING) {
            return State.CREATING;
        }
        if (engine.isPresent()) {
            boolean running =
                    info != null && engine.get().spec().node().equals(v.spec().nodeId());
            if (want) {
                return running ? State.ATTACHED : State.ATTACHING;
            }
            return State.DETACHING;
        }
        return want ? State.ATTACHING : State.DETACHED;
    }

    private void stopEngine(Engine e) {
        String node = e.spec().node();
        if (nodeReady(node)) {
            Instance inst = agents.connect(address(node)).stopEngine(e.name());
            observed.instanceChanged(node, inst);
        }
        store.delete(Kind.ENGINE, e.name());
        log.info("volume {}: engine on {} stopped", e.spec().volume(), node);
    }

    private void teardown(Volume v, Optional<Engine> engine) {
        engine.ifPresent(this::stopEngine);
        for (Replica r : replicaSteps.replicasOf(v.name())) {
            replicaSteps.delete(r);
        }
        snapshots.removeAll(v.name());
        store.delete(Kind.VOLUME, v.name());
        log.info("volume {} deleted", v.name());
    }

    private boolean nodeReady(String node) {
        return store.get(Kind.NODE, node).map(n -> n.status().ready()).orElse(false);
    }

    private String address(String node) {
        return store.get(Kind.NODE, node)
                .map(Node::status)
                .map(Node.Status::address)
                .orElseThrow();
    }

    /** How long a degraded volume waits before a new replica is built elsewhere. */
    Duration replenishmentWait() {
        return settings.seconds(Settings.REPLENISHMENT_WAIT);
    }

    static Condition condition(String type, boolean ok, String reason, String message, Instant now) {
        return new Condition(type, ok, reason, message, now);
    }
}
