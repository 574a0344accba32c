package io.bighorn.agent;

import io.bighorn.common.Names;
import io.bighorn.dataplane.wire.ClusterSecret;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * What a node agent is started with.
 *
 * @param disks directories for replicas: the first is disk "default", the next "disk-1", "disk-2", …
 * @param advertiseHost the host others reach this node's servers at
 * @param manager the manager's API for heartbeats; null for none
 */
public record AgentConfig(
        String name,
        String zone,
        List<String> tags,
        List<Path> disks,
        InetSocketAddress grpcListen,
        InetSocketAddress nbdListen,
        String advertiseHost,
        ClusterSecret secret,
        URI manager,
        Duration heartbeatInterval) {
    public AgentConfig {
        Names.require("node name", name);
        zone = zone == null ? "" : zone;
        tags = List.copyOf(tags);
        disks = List.copyOf(disks);
        if (disks.isEmpty()) {
            throw new IllegalArgumentException("a node needs at least one disk (--disk DIR)");
        }
        if (disks.stream().map(p -> p.toAbsolutePath().normalize()).distinct().count() != disks.size()) {
            throw new IllegalArgumentException("the same disk directory is given twice: " + disks);
        }
        for (String t : tags) {
            Names.require("node tag", t);
        }
        Objects.requireNonNull(grpcListen, "grpcListen");
        Objects.requireNonNull(nbdListen, "nbdListen");
        Objects.requireNonNull(advertiseHost, "advertiseHost");
        Objects.requireNonNull(secret, "secret");
        if (heartbeatInterval == null || heartbeatInterval.isNegative() || heartbeatInterval.isZero()) {
            throw new IllegalArgumentException("the heartbeat interval must be positive");
        }
    }

    /** The name of the disk at index {@code i}. */
    static String diskName(int i) {
        return i == 0 ? "default" : "disk-" + i;
    }
}
