package io.bighorn.control;

import io.bighorn.dataplane.engine.Engine;
import io.bighorn.dataplane.replica.ReplicaConnector;
import io.grpc.Server;
import io.grpc.ServerInterceptor;
import io.grpc.ServerInterceptors;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/** Serves an engine's control API (gRPC) on one address until closed. */
public final class ControlServer implements AutoCloseable {
    private final Server server;
    private final ExecutorService executor;

    private ControlServer(Server server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /**
     * Starts serving {@code engine} on {@code address} (port 0 picks a free port).
     *
     * @param frontend how the volume is exported, for {@code info} (e.g. {@code nbd://127.0.0.1:10809/vol0})
     * @param connector how {@code add-replica} reaches a replica
     */
    public static ControlServer start(
            InetSocketAddress address, Engine engine, String frontend, ReplicaConnector connector) throws IOException {
        return start(address, engine, frontend, connector, null);
    }

    /** As {@link #start}, every call first passing {@code auth} (null: none). */
    public static ControlServer start(
            InetSocketAddress address,
            Engine engine,
            String frontend,
            ReplicaConnector connector,
            ServerInterceptor auth)
            throws IOException {
        ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
        EngineControlService service = new EngineControlService(engine, frontend, connector);
        Server server = NettyServerBuilder.forAddress(address)
                .executor(executor)
                .addService(auth == null ? service.bindService() : ServerInterceptors.intercept(service, auth))
                .build()
                .start();
        return new ControlServer(server, executor);
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() throws InterruptedException {
        server.shutdown();
        if (!server.awaitTermination(5, TimeUnit.SECONDS)) {
            server.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
        executor.close();
    }
}
