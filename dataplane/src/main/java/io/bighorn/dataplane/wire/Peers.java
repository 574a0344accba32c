package io.bighorn.dataplane.wire;

import java.io.IOException;
import java.util.BitSet;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A replica server's connections to other replicas, for a rebuild target that fetches blocks from its
 * source itself. One endpoint per source, opened on first use with the cluster secret, dropped when it
 * fails, all closed with the server.
 */
final class Peers implements AutoCloseable {
    private static final long TIMEOUT_SECONDS = 60;

    private final ClusterSecret secret;
    private final Map<String, WireReplicaEndpoint> open = new ConcurrentHashMap<>();
    private volatile boolean closed;

    Peers(ClusterSecret secret) {
        this.secret = secret;
    }

    /**
     * The {@code wanted} blocks of snapshot {@code layer} read from the replica at {@code source}, encoded,
     * in a buffer from {@code pool} (the caller closes the lease).
     */
    io.bighorn.common.BufferPool.Lease fetch(
            String source, String layer, long offset, int blocks, BitSet wanted, io.bighorn.common.BufferPool pool)
            throws IOException {
        WireReplicaEndpoint peer = peer(source);
        try {
            return peer.readLayerEncoded(layer, offset, blocks, wanted, pool).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            open.remove(source, peer);
            peer.close();
            Throwable cause = e.getCause() == null ? e : e.getCause();
            throw new IOException("fetching from rebuild source " + source + ": " + cause.getMessage(), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted fetching from " + source, e);
        }
    }

    private WireReplicaEndpoint peer(String source) throws IOException {
        if (closed) {
            throw new IOException("the replica server is closing");
        }
        WireReplicaEndpoint peer = open.get(source);
        if (peer != null && peer.failure() == null) {
            return peer;
        }
        WireReplicaEndpoint fresh = WireReplicaEndpoint.connect(source, secret, 1);
        WireReplicaEndpoint raced = open.put(source, fresh);
        if (raced != null) {
            raced.close();
        }
        return fresh;
    }

    @Override
    public void close() {
        closed = true;
        open.values().forEach(WireReplicaEndpoint::close);
        open.clear();
    }
}
