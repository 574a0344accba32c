package io.bighorn.cli;

import io.bighorn.common.Sizes;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.ReplicaServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code bighorn server}: Bighorn on one machine with no setup — replicas under a data directory, each
 * served over TCP, and an engine serving the volume over NBD, until interrupted. Restarting it reuses
 * the data.
 */
@Command(
        name = "server",
        description = "Run Bighorn on this machine: replicas under --data and an engine serving the volume"
                + " over NBD, until interrupted (Ctrl-C). Restarting reuses the data.")
final class ServerCommand implements Callable<Integer> {
    @Option(names = "--data", defaultValue = "bighorn-data", description = "data directory (default ${DEFAULT-VALUE})")
    Path data;

    @Option(names = "--volume", defaultValue = "vol0", description = "volume name (default ${DEFAULT-VALUE})")
    String volume;

    @Option(names = "--size", defaultValue = "10G", description = "volume size (default ${DEFAULT-VALUE})")
    String size;

    @Option(names = "--replicas", defaultValue = "3", description = "number of replicas (default ${DEFAULT-VALUE})")
    int replicas;

    @Option(names = "--nbd", defaultValue = "127.0.0.1:10809", description = "NBD address (default ${DEFAULT-VALUE})")
    String nbd;

    @Option(
            names = "--control",
            defaultValue = "127.0.0.1:9501",
            description = "control API address (default ${DEFAULT-VALUE})")
    String control;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (replicas < 1 || replicas > 16) {
            throw new IllegalArgumentException("--replicas must be 1 to 16, not " + replicas);
        }
        long bytes = Sizes.parse(size);
        Files.createDirectories(data);
        ClusterSecret secret = ClusterSecret.fromFile(secretFile(data.resolve("secret")));
        Local local = new Local();
        try {
            for (int i = 1; i <= replicas; i++) {
                Path dir = data.resolve("replicas").resolve("r" + i);
                Replica r = Files.exists(dir.resolve("volume.json")) ? Replica.open(dir) : Replica.create(dir, bytes);
                local.replicas.add(r);
                local.servers.add(
                        ReplicaServer.start(r, new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), secret));
            }
            local.engine = EngineProcess.start(
                    volume,
                    bytes,
                    local.servers.stream().map(ReplicaServer::url).toList(),
                    secret,
                    Addresses.parse("--nbd", nbd),
                    Addresses.parse("--control", control),
                    Duration.ofSeconds(8));
        } catch (Exception e) {
            local.close();
            throw e;
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf(
                "Bighorn is serving volume %s (%s, %d replicas under %s) at %s%n",
                volume, Sizes.format(local.engine.engine.size()), replicas, data, local.engine.nbdUrl);
        out.printf("  control: bighorn ctl --engine %s info        stop: Ctrl-C%n", control);
        out.flush();
        EngineCommand.awaitShutdown(local);
        return 0;
    }

    /** The cluster secret file: made once (random, readable by the owner only) and reused. */
    static Path secretFile(Path file) throws IOException {
        if (!Files.exists(file)) {
            byte[] random = new byte[32];
            new SecureRandom().nextBytes(random);
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(tmp, HexFormat.of().formatHex(random) + "\n");
            Files.move(tmp, file, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        }
        return file;
    }

    /** What the server runs in this process, closed in reverse order. */
    private static final class Local implements AutoCloseable {
        final List<Replica> replicas = new ArrayList<>();
        final List<ReplicaServer> servers = new ArrayList<>();
        EngineProcess engine;

        @Override
        public void close() throws InterruptedException {
            if (engine != null) {
                engine.close();
            }
            servers.forEach(ReplicaServer::close);
            for (Replica r : replicas) {
                try {
                    r.close();
                } catch (IOException e) {
                    System.err.println("bighorn: closing replica " + r.directory() + ": " + e.getMessage());
                }
            }
        }
    }
}
