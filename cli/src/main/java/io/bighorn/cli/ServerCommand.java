package io.bighorn.cli;

import io.bighorn.agent.Agent;
import io.bighorn.agent.AgentAuth;
import io.bighorn.agent.AgentConfig;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.manager.Manager;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code bighorn server}: Bighorn on one machine with no setup — the manager (state in SQLite under the data
 * directory, REST API) and a local node agent with a default disk under the same directory, until
 * interrupted. A restart restores every volume, attachment and setting.
 */
@Command(
        name = "server",
        description = "Run Bighorn on this machine: the manager (REST API, state under --data) and a local node"
                + " with a default disk under --data, until interrupted (Ctrl-C). Restarting restores every volume.")
final class ServerCommand implements Callable<Integer> {
    @Option(names = "--data", defaultValue = "bighorn-data", description = "data directory (default ${DEFAULT-VALUE})")
    Path data;

    @Option(
            names = "--listen",
            defaultValue = "127.0.0.1:9500",
            description =
                    "REST API address (default ${DEFAULT-VALUE}); off loopback it needs the token in" + " <data>/token")
    String listen;

    @Option(
            names = "--nbd",
            defaultValue = "127.0.0.1:10809",
            description = "the local node's NBD address (default ${DEFAULT-VALUE})")
    String nbd;

    @Option(names = "--node-name", description = "the local node's name (default: this host's name)")
    String nodeName;

    @Option(names = "--no-local-agent", description = "run only the manager; nodes join with `bighorn agent`")
    boolean noLocalAgent;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        Files.createDirectories(data);
        ClusterSecret secret = ClusterSecret.fromFile(secretFile(data.resolve("secret")));
        String token = Files.readString(secretFile(data.resolve("token"))).strip();
        Connectors connectors = new Connectors(secret);
        Manager manager = Manager.start(new Manager.Config(
                data,
                Addresses.parse("--listen", listen),
                token,
                header -> AgentAuth.matches(secret, header),
                connectors::agent,
                connectors::engine,
                Duration.ofSeconds(1),
                Clock.systemUTC()));
        Agent agent = null;
        try {
            PrintWriter out = spec.commandLine().getOut();
            out.printf("Bighorn API at %s (state in %s)%n", manager.url(), data.resolve("bighorn.db"));
            if (!noLocalAgent) {
                Path disk = data.resolve("disks").resolve("default");
                Files.createDirectories(disk);
                agent = Agent.start(new AgentConfig(
                        nodeName != null ? nodeName : hostName(),
                        "",
                        List.of(),
                        List.of(disk),
                        new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                        Addresses.parse("--nbd", nbd),
                        "127.0.0.1",
                        secret,
                        URI.create(manager.url()),
                        Duration.ofSeconds(2)));
                out.printf(
                        "Node %s: disk %s, NBD at 127.0.0.1:%d%n",
                        agent.name(), disk, agent.nbdAddress().getPort());
                out.printf("  try: bighorn volume create vol1 --size 1Gi && bighorn volume attach vol1 --wait%n");
            }
            out.printf("Stop: Ctrl-C%n");
            out.flush();
            Agent local = agent;
            EngineCommand.awaitShutdown(() -> {
                if (local != null) {
                    local.close();
                }
                manager.close();
                connectors.close();
            });
        } catch (Exception e) {
            if (agent != null) {
                agent.close();
            }
            manager.close();
            connectors.close();
            throw e;
        }
        return 0;
    }

    /** This host's name if it is a valid node name, else "local". */
    static String hostName() {
        try {
            String h = InetAddress.getLocalHost().getHostName().toLowerCase(Locale.ROOT);
            return io.bighorn.common.Names.NAME.matcher(h).matches() ? h : "local";
        } catch (IOException e) {
            return "local";
        }
    }

    /** A secret file: made once (random, readable by the owner only) and reused. */
    static Path secretFile(Path file) throws IOException {
        if (!Files.exists(file)) {
            byte[] random = new byte[32];
            new SecureRandom().nextBytes(random);
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(tmp, HexFormat.of().formatHex(random) + "\n");
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        }
        return file;
    }
}
