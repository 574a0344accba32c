package io.bighorn.agent;

import io.bighorn.agent.v1.Disk;
import io.bighorn.agent.v1.NodeInfo;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.wire.WireReplicaEndpoint;
import io.bighorn.nbd.Export;
import io.bighorn.nbd.Exports;
import io.bighorn.nbd.NbdServer;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node agent: hosts replicas and engines of many volumes in this JVM for the manager, over the gRPC API
 * in {@code agent.proto}, and heartbeats to the manager.
 *
 * <p>Each replica has its own {@code ReplicaServer}, each engine its own control server and executors, so a
 * volume's failure stays with that volume; what volumes share is the one NBD server, whose export table
 * (volume name to engine) is read at every handshake. Replicas live under {@code <disk>/replicas/<name>/};
 * at start the agent finds the replicas on its disks and reports them STOPPED: it starts nothing on its own,
 * the manager decides. Every call is idempotent and calls on one instance are serialised ({@link
 * AgentService}), so the manager may repeat any of them after a crash.
 */
public final class Agent implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Agent.class);

    final AgentConfig config;
    final Map<String, Path> disks = new LinkedHashMap<>();
    final Map<String, String> diskIds = new LinkedHashMap<>();
    final Map<String, HostedReplica> replicas = new ConcurrentHashMap<>();
    final Map<String, HostedEngine> engines = new ConcurrentHashMap<>();
    final Map<String, Export> exports = new ConcurrentHashMap<>();
    final BackupJobs backups;
    private final NbdServer nbd;
    private Server grpc;
    private ExecutorService executor;
    private Heartbeat heartbeat;

    private Agent(AgentConfig config) throws IOException {
        this.config = config;
        this.backups = new BackupJobs(this::connectReplica);
        for (int i = 0; i < config.disks().size(); i++) {
            Path dir = config.disks().get(i).toAbsolutePath().normalize();
            Files.createDirectories(dir.resolve("replicas"));
            disks.put(AgentConfig.diskName(i), dir);
            diskIds.put(AgentConfig.diskName(i), DiskId.read(dir));
        }
        scan();
        this.nbd = NbdServer.start(
                config.nbdListen().getHostString(), config.nbdListen().getPort(), new Exports() {
                    @Override
                    public Optional<Export> find(String name) {
                        return Optional.ofNullable(exports.get(name));
                    }

                    @Override
                    public List<Export> list() {
                        return List.copyOf(exports.values());
                    }
                });
    }

    /** Starts the agent: its NBD server, its gRPC API and (with a manager) its heartbeats. */
    public static Agent start(AgentConfig config) throws IOException {
        Agent agent = new Agent(config);
        try {
            agent.executor = Executors.newVirtualThreadPerTaskExecutor();
            agent.grpc = NettyServerBuilder.forAddress(config.grpcListen())
                    .executor(agent.executor)
                    .addService(ServerInterceptors.intercept(
                            new AgentService(agent), AgentAuth.serverInterceptor(config.secret())))
                    .build()
                    .start();
            if (config.manager() != null) {
                agent.heartbeat = Heartbeat.start(agent);
            }
            log.info(
                    "node {}: agent on {}, NBD on {}, disks {}",
                    config.name(),
                    agent.grpcAddress(),
                    agent.nbdAddress(),
                    agent.disks);
            return agent;
        } catch (IOException | RuntimeException e) {
            agent.close();
            throw e;
        }
    }

    /** The replicas already on the disks: reported STOPPED until the manager starts them. */
    private void scan() throws IOException {
        for (Map.Entry<String, Path> d : disks.entrySet()) {
            try (var list = Files.list(d.getValue().resolve("replicas"))) {
                for (Path dir : list.filter(Files::isDirectory).toList()) {
                    String name = dir.getFileName().toString();
                    if (HostedReplica.exists(dir)) {
                        HostedReplica r = new HostedReplica(name, ReplicaMarker.volume(dir), d.getKey(), dir);
                        r.readSize();
                        replicas.put(name, r);
                    }
                }
            }
        }
    }

    /**
     * Reaches the replica at {@code address}: in-process if this agent serves it (an engine here and a
     * replica on this node), else over the network.
     */
    ReplicaEndpoint connectReplica(String address) throws IOException {
        for (HostedReplica r : replicas.values()) {
            ReplicaEndpoint local = r.borrow(address);
            if (local != null) {
                return local;
            }
        }
        return WireReplicaEndpoint.connect(address, config.secret());
    }

    public String name() {
        return config.name();
    }

    public InetSocketAddress grpcAddress() {
        return new InetSocketAddress(config.advertiseHost(), grpc.getPort());
    }

    public InetSocketAddress nbdAddress() {
        return new InetSocketAddress(config.advertiseHost(), nbd.port());
    }

    int nbdClients(String volume) {
        return nbd.clients(volume);
    }

    NodeInfo describe() {
        NodeInfo.Builder b = NodeInfo.newBuilder()
                .setName(config.name())
                .setZone(config.zone())
                .addAllTags(config.tags())
                .setNbdAddress(config.advertiseHost() + ":" + nbd.port());
        for (Map.Entry<String, Path> d : disks.entrySet()) {
            try {
                FileStore fs = Files.getFileStore(d.getValue());
                b.addDisks(Disk.newBuilder()
                        .setName(d.getKey())
                        .setPath(d.getValue().toString())
                        .setStorageMaximum(fs.getTotalSpace())
                        .setStorageAvailable(fs.getUsableSpace())
                        .setUuid(diskIds.get(d.getKey())));
            } catch (IOException e) {
                throw new UncheckedIOException("disk " + d.getKey() + " at " + d.getValue() + ": " + e.getMessage(), e);
            }
        }
        replicas.values().forEach(r -> b.addInstances(r.describe()));
        engines.values().forEach(e -> b.addInstances(e.describe()));
        return b.build();
    }

    @Override
    public void close() {
        if (heartbeat != null) {
            heartbeat.close();
        }
        if (grpc != null) {
            grpc.shutdownNow();
            try {
                grpc.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (executor != null) {
            executor.shutdownNow();
        }
        List<String> stopped = new ArrayList<>();
        for (HostedEngine e : engines.values()) {
            exports.remove(e.volume);
            try {
                e.stop();
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
            }
            stopped.add(e.name);
        }
        engines.clear();
        nbd.close();
        replicas.values().forEach(HostedReplica::stop);
        log.info("node {}: agent stopped ({} engines flushed)", config.name(), stopped.size());
    }
}
