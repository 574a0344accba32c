package io.bighorn.cli;

import io.bighorn.common.Sizes;
import io.bighorn.dataplane.replica.Replica;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.ReplicaServer;
import java.io.IOException;
import java.io.PrintWriter;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code bighorn replica ...}: commands that work on one replica. Leaf commands go in {@code subcommands};
 * {@code --help} and {@code --version} are inherited from {@link Main}. Without a subcommand, with
 * {@code --dir}, it serves the replica in that directory to engines ({@code bighorn replica --dir D --size S
 * --listen HOST:PORT}) until interrupted.
 */
@Command(
        name = "replica",
        description = {
            "Work with replicas.",
            "With --dir (and no subcommand): serve one replica to engines over TCP (and a Unix domain socket"
                    + " with --socket) until interrupted; it is created when DIR holds none."
        },
        subcommands = {ReplicaInspectCommand.class})
final class ReplicaCommand implements Callable<Integer> {

    @Option(names = "--dir", paramLabel = "DIR", description = "the replica directory to serve")
    Path dir;

    @Option(
            names = "--size",
            paramLabel = "SIZE",
            description = "volume size, e.g. 10G; needed to create a replica, checked against an existing one")
    String size;

    @Option(
            names = "--listen",
            paramLabel = "HOST:PORT",
            description = "where to listen (port 0 picks a free port); default ${DEFAULT-VALUE}",
            defaultValue = "127.0.0.1:9502")
    String listen;

    @Option(
            names = "--socket",
            paramLabel = "PATH",
            description = "also listen on a Unix domain socket at PATH, for an engine on this machine"
                    + " (--replica unix:///PATH): no TCP stack between them")
    Path socket;

    @Option(
            names = "--secret-file",
            paramLabel = "FILE",
            description =
                    "file holding the cluster secret; default: the " + ClusterSecret.ENV + " environment variable")
    Path secretFile;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (dir == null) {
            throw new ParameterException(spec.commandLine(), "Missing required subcommand or --dir");
        }
        InetSocketAddress bind = parseListen(listen);
        ClusterSecret secret = ClusterSecret.resolve(secretFile, System.getenv());
        Replica replica = openOrCreate();
        ReplicaServer server;
        ReplicaServer local = null;
        try {
            server = ReplicaServer.start(replica, bind, secret);
            try {
                if (socket != null) {
                    local = ReplicaServer.start(
                            replica, java.net.UnixDomainSocketAddress.of(socket.toAbsolutePath()), secret);
                }
            } catch (IOException | RuntimeException e) {
                server.close();
                throw e;
            }
        } catch (IOException | RuntimeException e) {
            closeQuietly(replica);
            throw e;
        }
        ReplicaServer unixServer = local;
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(
                () -> {
                    server.close();
                    if (unixServer != null) {
                        unixServer.close();
                    }
                    closeQuietly(replica);
                    stopped.countDown();
                },
                "bighorn-replica-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        PrintWriter out = spec.commandLine().getOut();
        out.printf(
                "replica %s (%s) serving on %s%s%n",
                dir, Sizes.format(replica.size()), server.url(), unixServer == null ? "" : " and " + unixServer.url());
        out.flush();
        stopped.await(); // until SIGINT/SIGTERM runs the hook
        return 0;
    }

    private Replica openOrCreate() throws IOException {
        Long wanted = size == null ? null : Sizes.parse(size);
        if (!Files.exists(dir.resolve("volume.json"))) {
            if (wanted == null) {
                throw new ParameterException(
                        spec.commandLine(), dir + " holds no replica: --size is needed to create one");
            }
            return Replica.create(dir, wanted);
        }
        Replica replica = Replica.open(dir);
        if (wanted != null && replica.size() != wanted) {
            long actual = replica.size();
            closeQuietly(replica);
            throw new IOException("replica " + dir + " is " + Sizes.format(actual) + " (" + actual + " bytes), not "
                    + Sizes.format(wanted) + " as --size asks");
        }
        return replica;
    }

    private InetSocketAddress parseListen(String hostPort) {
        try {
            return Addresses.parse("--listen", hostPort);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), e.getMessage(), e, null, hostPort);
        }
    }

    private static void closeQuietly(Replica replica) {
        try {
            replica.close();
        } catch (IOException e) {
            System.err.println("bighorn: closing replica " + replica.directory() + ": " + e.getMessage());
        }
    }
}
