package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.Disk;
import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceKind;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.agent.v1.NodeInfo;
import io.bighorn.manager.model.Condition;
import io.bighorn.manager.model.Kind;
import io.bighorn.manager.model.Meta;
import io.bighorn.manager.model.Node;
import io.bighorn.manager.model.Replica;
import io.bighorn.manager.settings.Settings;
import io.bighorn.manager.store.Store;
import io.bighorn.manager.store.StoreException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps Node objects true: created by a node's first heartbeat, Ready while heartbeats come, down (Ready
 * false) after {@code node-down-timeout} without one, disks refreshed from the agent's reports.
 */
public final class NodeController {
    private static final Logger log = LoggerFactory.getLogger(NodeController.class);

    /** What an agent says of itself in each heartbeat. */
    public record Heartbeat(String node, String address, String nbdAddress, String zone, List<String> tags) {}

    private final Store store;
    private final Settings settings;
    private final Observations observed;
    private final AgentApi.Connector agents;
    private final Clock clock;
    private final Instant started;

    public NodeController(
            Store store, Settings settings, Observations observed, AgentApi.Connector agents, Clock clock) {
        this.store = store;
        this.settings = settings;
        this.observed = observed;
        this.agents = agents;
        this.clock = clock;
        this.started = clock.instant();
    }

    /** Records a heartbeat: creates the node on its first, marks it Ready, notes a new address. */
    public Node heartbeat(Heartbeat hb) {
        Instant now = clock.instant();
        observed.heartbeat(hb.node(), now);
        Condition ready = new Condition("Ready", true, "Heartbeat", "the node's agent reports", now);
        if (store.get(Kind.NODE, hb.node()).isEmpty()) {
            Node fresh = new Node(
                    Meta.named(hb.node()),
                    new Node.Spec(true, Set.copyOf(hb.tags()), Map.of()),
                    new Node.Status(
                            hb.address(),
                            hb.nbdAddress(),
                            hb.zone(),
                            Set.copyOf(hb.tags()),
                            now,
                            List.of(ready),
                            Map.of()));
            try {
                log.info("node {} joined at {}", hb.node(), hb.address());
                return store.create(Kind.NODE, fresh);
            } catch (StoreException.AlreadyExists e) {
                // another heartbeat created it: update below
            }
        }
        return Mutations.mutate(store, Kind.NODE, hb.node(), n -> {
                    Node.Status s = n.status();
                    boolean same = s.address().equals(hb.address())
                            && s.nbdAddress().equals(hb.nbdAddress())
                            && s.zone().equals(hb.zone())
                            && s.agentTags().equals(Set.copyOf(hb.tags()))
                            && s.ready();
                    if (same) {
                        return n;
                    }
                    if (!s.ready()) {
                        log.info("node {} is back at {}", hb.node(), hb.address());
                    }
                    return n.withStatus(new Node.Status(
                            hb.address(),
                            hb.nbdAddress(),
                            hb.zone(),
                            Set.copyOf(hb.tags()),
                            now,
                            Condition.set(s.conditions(), ready),
                            s.disks()));
                })
                .orElseThrow();
    }

    /** Marks down the nodes whose heartbeats stopped; their instances are unknown from then on. */
    public void checkHeartbeats() {
        Instant now = clock.instant();
        Duration timeout = settings.seconds(Settings.NODE_DOWN_TIMEOUT);
        for (Node n : store.list(Kind.NODE)) {
            Instant last = observed.lastHeartbeat(n.name()).orElse(started);
            if (n.status().ready() && Duration.between(last, now).compareTo(timeout) > 0) {
                log.warn(
                        "node {} is down: no heartbeat for {}s",
                        n.name(),
                        Duration.between(last, now).toSeconds());
                observed.forget(n.name());
                Condition down = new Condition(
                        "Ready",
                        false,
                        "NoHeartbeat",
                        "no heartbeat from the node's agent for " + timeout.toSeconds() + "s",
                        now);
                Mutations.mutate(
                        store,
                        Kind.NODE,
                        n.name(),
                        x -> x.withStatus(new Node.Status(
                                x.status().address(),
                                x.status().nbdAddress(),
                                x.status().zone(),
                                x.status().agentTags(),
                                x.status().lastHeartbeat(),
                                Condition.set(x.status().conditions(), down),
                                x.status().disks())));
            }
        }
    }

    /**
     * Removes what a node hosts without an object saying it should: a replica whose object was deleted while
     * its node was down, an engine left behind by a detach or a move the node missed. Objects are always
     * written before the instances they describe, so an instance without one is never one being created.
     */
    private void removeOrphans(Node n, NodeInfo info) {
        AgentApi agent = agents.connect(n.status().address());
        for (Instance i : info.getInstancesList()) {
            try {
                if (i.getKind() == InstanceKind.REPLICA
                        && store.get(Kind.REPLICA, i.getName()).isEmpty()) {
                    log.info("node {}: removing orphan replica {} of volume {}", n.name(), i.getName(), i.getVolume());
                    agent.deleteReplica(i.getName());
                    observed.instanceRemoved(n.name(), i.getName());
                } else if (i.getKind() == InstanceKind.ENGINE
                        && i.getState() == InstanceState.RUNNING
                        && !store.get(Kind.ENGINE, i.getName())
                                .map(e -> e.spec().node().equals(n.name()))
                                .orElse(false)) {
                    log.info("node {}: stopping orphan engine {}", n.name(), i.getName());
                    observed.instanceChanged(n.name(), agent.stopEngine(i.getName()));
                }
            } catch (RuntimeException e) {
                log.warn("node {}: removing orphan {} failed: {}", n.name(), i.getName(), e.getMessage());
            }
        }
    }

    /** Asks a ready node's agent for its disks and instances and records them. */
    public void poll(Node n) {
        if (!n.status().ready()) {
            return;
        }
        NodeInfo info;
        try {
            info = agents.connect(n.status().address()).getNode();
        } catch (RuntimeException e) {
            log.debug("node {}: agent did not answer: {}", n.name(), e.getMessage());
            return;
        }
        observed.report(n.name(), info, clock.instant());
        removeOrphans(n, info);
        Map<String, Long> scheduled = new HashMap<>();
        for (Replica r : store.list(Kind.REPLICA)) {
            if (r.spec().node().equals(n.name())) {
                scheduled.merge(r.spec().disk(), r.spec().size(), Long::sum);
            }
        }
        long reservedPct = settings.number(Settings.RESERVED_DEFAULT_DISK);
        Mutations.mutate(store, Kind.NODE, n.name(), x -> {
            Map<String, Node.DiskSpec> specs = new HashMap<>(x.spec().disks());
            Map<String, Node.DiskStatus> status = new HashMap<>();
            for (Disk d : info.getDisksList()) {
                specs.computeIfAbsent(
                        d.getName(),
                        name -> new Node.DiskSpec(
                                true,
                                name.equals("default") ? d.getStorageMaximum() / 100 * reservedPct : 0,
                                Set.of()));
                Node.DiskStatus old = x.status().disks().get(d.getName());
                long available = d.getStorageAvailable();
                if (old != null && Math.abs(old.storageAvailable() - available) < d.getStorageMaximum() / 100) {
                    available = old.storageAvailable(); // small drift: not worth a write
                }
                status.put(
                        d.getName(),
                        new Node.DiskStatus(
                                d.getPath(),
                                d.getUuid(),
                                d.getStorageMaximum(),
                                available,
                                scheduled.getOrDefault(d.getName(), 0L)));
            }
            Node.Status s = x.status();
            return x.withSpec(new Node.Spec(x.spec().allowScheduling(), x.spec().tags(), specs))
                    .withStatus(new Node.Status(
                            s.address(),
                            s.nbdAddress(),
                            s.zone(),
                            s.agentTags(),
                            s.lastHeartbeat(),
                            s.conditions(),
                            status));
        });
    }
}
