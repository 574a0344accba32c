package io.bighorn.cli;

import io.bighorn.common.Sizes;
import io.bighorn.dataplane.wire.ClusterSecret;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code bighorn engine}: serves one volume over NBD, writing it to the given replicas. */
@Command(
        name = "engine",
        description = "Serve volume V over NBD (export name V) on its replicas until interrupted,"
                + " with the control API for bighorn ctl.")
final class EngineCommand implements Callable<Integer> {
    @Option(names = "--volume", required = true, paramLabel = "V", description = "the volume name")
    String volume;

    @Option(names = "--size", required = true, paramLabel = "SIZE", description = "volume size, e.g. 10G")
    String size;

    @Option(
            names = "--replica",
            required = true,
            paramLabel = "URL",
            description = "a replica: tcp://HOST:PORT (bighorn replica --listen) or, on this machine,"
                    + " unix:///PATH (bighorn replica --socket); repeat for each")
    List<String> replicas;

    @Option(
            names = "--nbd",
            paramLabel = "HOST:PORT",
            defaultValue = "127.0.0.1:10809",
            description = "NBD address (default ${DEFAULT-VALUE})")
    String nbd;

    @Option(
            names = "--control",
            paramLabel = "HOST:PORT",
            defaultValue = "127.0.0.1:9501",
            description = "control API address (default ${DEFAULT-VALUE})")
    String control;

    @Option(
            names = "--secret-file",
            paramLabel = "FILE",
            description = "file holding the cluster secret; default: the " + ClusterSecret.ENV + " variable")
    Path secretFile;

    @Option(
            names = "--timeout",
            paramLabel = "SECONDS",
            defaultValue = "8",
            description = "engine-replica timeout in seconds (default ${DEFAULT-VALUE})")
    double timeoutSeconds;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        if (!(timeoutSeconds > 0)) {
            throw new IllegalArgumentException("--timeout must be positive, not " + timeoutSeconds);
        }
        EngineProcess process = EngineProcess.start(
                volume,
                Sizes.parse(size),
                replicas,
                ClusterSecret.resolve(secretFile, System.getenv()),
                Addresses.parse("--nbd", nbd),
                Addresses.parse("--control", control),
                Duration.ofMillis((long) (timeoutSeconds * 1000)));
        PrintWriter out = spec.commandLine().getOut();
        out.printf(
                "engine for volume %s (%s, epoch %d) serving %s, control on %s:%d%n",
                volume,
                Sizes.format(process.engine.size()),
                process.engine.epoch(),
                process.nbdUrl,
                Addresses.parse("--control", control).getHostString(),
                process.control.port());
        out.flush();
        awaitShutdown(process);
        return 0;
    }

    /** Blocks until SIGINT/SIGTERM, then closes {@code process}. */
    static void awaitShutdown(AutoCloseable process) throws InterruptedException {
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            try {
                                process.close();
                            } catch (Exception e) {
                                System.err.println("bighorn: shutdown: " + e.getMessage());
                            }
                            stopped.countDown();
                        },
                        "bighorn-shutdown"));
        stopped.await();
    }
}
