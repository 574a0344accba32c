package io.bighorn.cli;

import io.bighorn.control.ControlServer;
import io.bighorn.dataplane.engine.Engine;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.wire.ClusterSecret;
import io.bighorn.dataplane.wire.WireReplicaEndpoint;
import io.bighorn.nbd.Export;
import io.bighorn.nbd.Exports;
import io.bighorn.nbd.NbdServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An engine with its NBD frontend and control API, as {@code bighorn engine} and {@code bighorn server}
 * run it. Closing stops the control API, then the frontend, then flushes and closes the engine.
 */
final class EngineProcess implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(EngineProcess.class);

    final Engine engine;
    final NbdServer nbd;
    final ControlServer control;
    final String nbdUrl;

    private EngineProcess(Engine engine, NbdServer nbd, ControlServer control, String nbdUrl) {
        this.engine = engine;
        this.nbd = nbd;
        this.control = control;
        this.nbdUrl = nbdUrl;
    }

    /** Connects to the replicas (an unreachable one starts in ERR), starts the engine and serves it. */
    static EngineProcess start(
            String volume,
            long size,
            List<String> replicaUrls,
            ClusterSecret secret,
            InetSocketAddress nbdAddress,
            InetSocketAddress controlAddress,
            Duration timeout)
            throws IOException, InterruptedException {
        List<ReplicaEndpoint> endpoints = WireReplicaEndpoint.connectAll(volume, replicaUrls, secret);
        Engine engine;
        try {
            engine = Engine.start(volume, size, endpoints, timeout, Clock.systemUTC());
        } catch (IOException | RuntimeException e) {
            endpoints.forEach(ReplicaEndpoint::close);
            throw e;
        }
        NbdServer nbd = null;
        try {
            nbd = NbdServer.start(
                    nbdAddress.getHostString(),
                    nbdAddress.getPort(),
                    Exports.of(new Export(volume, "Bighorn volume " + volume, engine)));
            NbdServer server = nbd;
            engine.frontendClients(() -> server.clients(volume));
            String url = "nbd://" + nbdAddress.getHostString() + ":" + nbd.port() + "/" + volume;
            ControlServer control = ControlServer.start(
                    controlAddress, engine, url, address -> WireReplicaEndpoint.connect(address, secret));
            return new EngineProcess(engine, nbd, control, url);
        } catch (IOException | RuntimeException e) {
            if (nbd != null) {
                nbd.close();
            }
            engine.close();
            throw e;
        }
    }

    @Override
    public void close() throws InterruptedException {
        control.close();
        nbd.close();
        try {
            engine.flush();
        } catch (IOException e) {
            log.warn("volume {}: final flush failed: {}", engine.volume(), e.getMessage());
        }
        engine.close();
    }
}
