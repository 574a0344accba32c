package io.bighorn.cli;

import io.bighorn.agent.Agent;
import io.bighorn.agent.AgentConfig;
import io.bighorn.dataplane.wire.ClusterSecret;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code bighorn agent}: one more node for a manager, hosting replicas and engines on its disks. */
@Command(
        name = "agent",
        description = "Run a node agent: host replicas and engines on the given disks for the manager, until"
                + " interrupted. Several agents on one machine, with their own disks and ports, act as nodes.")
final class AgentCommand implements Callable<Integer> {
    @Option(names = "--manager", required = true, description = "the manager's API, e.g. http://10.0.0.1:9500")
    URI manager;

    @Option(
            names = "--disk",
            required = true,
            description = "a directory for replicas (repeatable; the first is 'default')")
    List<Path> disks = new ArrayList<>();

    @Option(names = "--name", description = "the node's name (default: this host's name)")
    String name;

    @Option(names = "--zone", defaultValue = "", description = "the node's zone, for zone anti-affinity")
    String zone;

    @Option(names = "--tags", split = ",", description = "the node's tags, e.g. ssd,fast")
    List<String> tags = new ArrayList<>();

    @Option(
            names = "--listen",
            defaultValue = "127.0.0.1:0",
            description = "gRPC address for the manager (default ${DEFAULT-VALUE})")
    String listen;

    @Option(names = "--nbd", defaultValue = "127.0.0.1:0", description = "NBD address (default ${DEFAULT-VALUE})")
    String nbd;

    @Option(names = "--advertise", description = "the host others reach this node at (default: the --listen host)")
    String advertise;

    @Option(
            names = "--secret-file",
            description = "the cluster secret (the manager's <data>/secret); else $BIGHORN_SECRET")
    Path secretFile;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        ClusterSecret secret = ClusterSecret.resolve(secretFile, System.getenv());
        for (Path d : disks) {
            Files.createDirectories(d);
        }
        var grpc = Addresses.parse("--listen", listen);
        Agent agent = Agent.start(new AgentConfig(
                name != null ? name : ServerCommand.hostName(),
                zone,
                tags,
                disks,
                grpc,
                Addresses.parse("--nbd", nbd),
                advertise != null ? advertise : grpc.getHostString(),
                secret,
                manager,
                Duration.ofSeconds(2)));
        spec.commandLine()
                .getOut()
                .printf(
                        "node %s: agent on %s:%d, NBD on %s:%d, manager %s%n",
                        agent.name(),
                        agent.grpcAddress().getHostString(),
                        agent.grpcAddress().getPort(),
                        agent.nbdAddress().getHostString(),
                        agent.nbdAddress().getPort(),
                        manager);
        spec.commandLine().getOut().flush();
        EngineCommand.awaitShutdown(agent);
        return 0;
    }
}
