package io.bighorn.manager.reconcile;

import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.NodeInfo;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the manager last heard from each node, kept in memory only: heartbeats and the agents' reports of
 * their disks and instances. Rebuilt from scratch after a manager restart within a poll interval.
 */
public final class Observations {
    /** One node's last report. */
    record NodeReport(NodeInfo info, Instant at) {}

    /** Two successive readings of an engine, for rates; and its rebuild, if one runs. */
    public record EngineSample(
            io.bighorn.control.v1.EngineInfo last,
            Instant lastAt,
            io.bighorn.control.v1.EngineInfo previous,
            Instant previousAt,
            io.bighorn.control.v1.RebuildStatus rebuild) {}

    private final Map<String, EngineSample> engineSamples = new ConcurrentHashMap<>();
    private final Map<String, Instant> heartbeats = new ConcurrentHashMap<>();
    private final Map<String, NodeReport> reports = new ConcurrentHashMap<>();

    void engineSample(String volume, io.bighorn.control.v1.EngineInfo info, Instant at) {
        engineSamples.compute(
                volume,
                (v, old) -> old == null
                        ? new EngineSample(info, at, null, null, null)
                        : new EngineSample(info, at, old.last(), old.lastAt(), old.rebuild()));
    }

    void rebuild(String volume, io.bighorn.control.v1.RebuildStatus status) {
        engineSamples.computeIfPresent(
                volume,
                (v, old) -> new EngineSample(old.last(), old.lastAt(), old.previous(), old.previousAt(), status));
    }

    void engineGone(String volume) {
        engineSamples.remove(volume);
    }

    public Optional<EngineSample> engineSample(String volume) {
        return Optional.ofNullable(engineSamples.get(volume));
    }

    void heartbeat(String node, Instant at) {
        heartbeats.put(node, at);
    }

    Optional<Instant> lastHeartbeat(String node) {
        return Optional.ofNullable(heartbeats.get(node));
    }

    void report(String node, NodeInfo info, Instant at) {
        reports.put(node, new NodeReport(info, at));
    }

    void forget(String node) {
        reports.remove(node);
    }

    Optional<NodeReport> report(String node) {
        return Optional.ofNullable(reports.get(node));
    }

    /** The instance of that name on that node as last reported, if the node reported it. */
    public Optional<Instance> instance(String node, String name) {
        NodeReport r = reports.get(node);
        if (r == null) {
            return Optional.empty();
        }
        return r.info().getInstancesList().stream()
                .filter(i -> i.getName().equals(name))
                .findFirst();
    }

    /** Records an instance state an agent call just answered, ahead of the next poll. */
    void instanceChanged(String node, Instance instance) {
        reports.computeIfPresent(node, (n, r) -> {
            NodeInfo.Builder b = r.info().toBuilder().clearInstances();
            boolean found = false;
            for (Instance i : r.info().getInstancesList()) {
                if (i.getName().equals(instance.getName())) {
                    b.addInstances(instance);
                    found = true;
                } else {
                    b.addInstances(i);
                }
            }
            if (!found) {
                b.addInstances(instance);
            }
            return new NodeReport(b.build(), r.at());
        });
    }

    void instanceRemoved(String node, String name) {
        reports.computeIfPresent(node, (n, r) -> {
            NodeInfo.Builder b = r.info().toBuilder().clearInstances();
            r.info().getInstancesList().stream()
                    .filter(i -> !i.getName().equals(name))
                    .forEach(b::addInstances);
            return new NodeReport(b.build(), r.at());
        });
    }
}
