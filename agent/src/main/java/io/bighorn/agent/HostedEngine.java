package io.bighorn.agent;

import io.bighorn.agent.v1.Instance;
import io.bighorn.agent.v1.InstanceKind;
import io.bighorn.agent.v1.InstanceState;
import io.bighorn.control.ControlServer;
import io.bighorn.dataplane.engine.Engine;
import io.bighorn.dataplane.replica.ReplicaConnector;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.wire.WireReplicaEndpoint;
import io.grpc.ServerInterceptor;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** An engine this node runs for a volume: the engine over its replicas and its control API. */
final class HostedEngine {
    private static final Logger log = LoggerFactory.getLogger(HostedEngine.class);

    final String name;
    final String volume;
    final Engine engine;
    final ControlServer control;
    final String controlAddress;
    final String endpoint;

    private HostedEngine(
            String name, String volume, Engine engine, ControlServer control, String controlAddress, String endpoint) {
        this.name = name;
        this.volume = volume;
        this.engine = engine;
        this.control = control;
        this.controlAddress = controlAddress;
        this.endpoint = endpoint;
    }

    /**
     * Connects to the replicas through {@code connector} (an unreachable one starts in ERR), starts the
     * engine and its control API, which reaches replicas added later the same way.
     */
    static HostedEngine start(
            String name,
            String volume,
            long size,
            List<String> replicas,
            Duration timeout,
            ReplicaConnector connector,
            String host,
            String endpoint,
            ServerInterceptor auth)
            throws IOException, InterruptedException {
        List<ReplicaEndpoint> endpoints = WireReplicaEndpoint.connectAll(volume, replicas, connector);
        Engine engine;
        try {
            engine = Engine.start(volume, size, endpoints, timeout, Clock.systemUTC());
        } catch (IOException | RuntimeException e) {
            endpoints.forEach(ReplicaEndpoint::close);
            throw e;
        }
        try {
            ControlServer control =
                    ControlServer.start(new InetSocketAddress(host, 0), engine, endpoint, connector, auth);
            return new HostedEngine(name, volume, engine, control, host + ":" + control.port(), endpoint);
        } catch (IOException | RuntimeException e) {
            engine.close();
            throw e;
        }
    }

    Instance describe() {
        return Instance.newBuilder()
                .setName(name)
                .setVolume(volume)
                .setKind(InstanceKind.ENGINE)
                .setState(InstanceState.RUNNING)
                .setAddress(controlAddress)
                .setEndpoint(endpoint)
                .setSize(engine.size())
                .build();
    }

    /** Stops the control API, flushes and closes the engine (its NBD export is removed first by the caller). */
    void stop() throws InterruptedException {
        control.close();
        try {
            engine.flush();
        } catch (IOException e) {
            log.warn("volume {}: final flush failed: {}", volume, e.getMessage());
        }
        engine.close();
    }

    static Instance stopped(String name) {
        return Instance.newBuilder()
                .setName(name)
                .setKind(InstanceKind.ENGINE)
                .setState(InstanceState.STOPPED)
                .build();
    }
}
