package io.bighorn.dataplane.wire;

import com.fasterxml.jackson.core.type.TypeReference;
import io.bighorn.dataplane.blockdev.BlockDevice;
import io.bighorn.dataplane.replica.LayerBlocks;
import io.bighorn.dataplane.replica.ReplicaEndpoint;
import io.bighorn.dataplane.replica.ReplicaInfo;
import io.bighorn.dataplane.replica.SnapshotInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.URI;
import java.nio.channels.SocketChannel;
import java.time.Instant;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A replica served by a {@link ReplicaServer}, reached over {@code N} TCP connections (default
 * {@value #DEFAULT_CONNECTIONS}). Requests are pipelined: each goes to the connection with the fewest
 * waiting, and replies are matched by id in any order. Futures complete on a connection's reader thread,
 * so dependent stages that block should use the {@code *Async} variants.
 *
 * <p>The endpoint is up or failed, never half: the first transport error (the replica died, a connection
 * broke, the replica broke the protocol) closes every connection and fails every waiting and later request
 * with an {@link IOException} that names the replica. Reconnecting is a new endpoint.
 *
 * <p>Deadlines are the caller's: a future completed early ({@code orTimeout}, {@code cancel}) forgets its
 * request at once, and a late reply is discarded. A read reply racing such a timeout may still be landing
 * in the caller's buffer for a moment after the future completed: drop the buffer of a timed-out read
 * rather than reusing it (or close the endpoint first).
 */
public final class WireReplicaEndpoint implements ReplicaEndpoint {
    public static final int DEFAULT_CONNECTIONS = 2;
    private static final TypeReference<List<SnapshotInfo>> SNAPSHOTS = new TypeReference<>() {};
    private static final TypeReference<List<String>> NAMES = new TypeReference<>() {};
    private static final TypeReference<List<BlockDevice.Extent>> EXTENTS = new TypeReference<>() {};

    private final String address;
    private final List<ClientConnection> connections = new ArrayList<>();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicReference<IOException> failure = new AtomicReference<>();

    private WireReplicaEndpoint(String address) {
        this.address = address;
    }

    /**
     * Connects to each replica of an engine about to start; one that cannot be reached is an {@code
     * UnreachableReplica}, so the engine starts with it in ERR.
     */
    public static List<ReplicaEndpoint> connectAll(String volume, List<String> urls, ClusterSecret secret) {
        return connectAll(volume, urls, url -> connect(url, secret));
    }

    /** As {@link #connectAll(String, List, ClusterSecret)}, each replica reached through {@code connector}. */
    public static List<ReplicaEndpoint> connectAll(
            String volume, List<String> urls, io.bighorn.dataplane.replica.ReplicaConnector connector) {
        List<ReplicaEndpoint> endpoints = new ArrayList<>();
        for (String url : urls) {
            try {
                endpoints.add(connector.connect(url));
            } catch (IOException e) {
                org.slf4j.LoggerFactory.getLogger(WireReplicaEndpoint.class)
                        .warn("volume {}: replica {} is unreachable: {}", volume, url, e.getMessage());
                endpoints.add(new io.bighorn.dataplane.replica.UnreachableReplica(url, e));
            }
        }
        return endpoints;
    }

    /** Connects to {@code tcp://HOST:PORT} with {@value #DEFAULT_CONNECTIONS} connections. */
    public static WireReplicaEndpoint connect(String address, ClusterSecret secret) throws IOException {
        return connect(address, secret, DEFAULT_CONNECTIONS);
    }

    /** Connects and authenticates {@code connections} connections; throws when any fails. */
    public static WireReplicaEndpoint connect(String address, ClusterSecret secret, int connections)
            throws IOException {
        if (connections < 1) {
            throw new IllegalArgumentException("connections must be at least 1, not " + connections);
        }
        java.net.SocketAddress target = parse(address);
        boolean unix = target instanceof java.net.UnixDomainSocketAddress;
        WireReplicaEndpoint endpoint = new WireReplicaEndpoint(address);
        try {
            for (int i = 0; i < connections; i++) {
                SocketChannel ch =
                        unix ? SocketChannel.open(java.net.StandardProtocolFamily.UNIX) : SocketChannel.open();
                endpoint.connections.add(new ClientConnection(endpoint, ch, i));
                try {
                    ch.connect(target);
                } catch (IOException e) {
                    throw new IOException("cannot connect to replica " + address + ": " + e.getMessage(), e);
                }
                if (!unix) {
                    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                }
                Handshake.client(ch, secret, address);
            }
        } catch (IOException | RuntimeException e) {
            endpoint.close();
            throw e;
        }
        endpoint.connections.forEach(ClientConnection::start);
        return endpoint;
    }

    /**
     * {@code tcp://HOST:PORT} as a TCP address, {@code unix:///PATH} (an absolute path) as a Unix domain
     * socket's.
     */
    static java.net.SocketAddress parse(String address) {
        String expected = ": expected tcp://HOST:PORT or unix:///PATH";
        URI uri;
        try {
            uri = URI.create(address);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad replica address " + address + expected, e);
        }
        if ("unix".equals(uri.getScheme())) {
            if (uri.getRawAuthority() != null
                    || uri.getPath() == null
                    || !uri.getPath().startsWith("/")
                    || uri.getQuery() != null
                    || uri.getFragment() != null) {
                throw new IllegalArgumentException("bad replica address " + address + expected);
            }
            return java.net.UnixDomainSocketAddress.of(uri.getPath());
        }
        if (!"tcp".equals(uri.getScheme()) || uri.getHost() == null || uri.getPort() < 0) {
            throw new IllegalArgumentException("bad replica address " + address + expected);
        }
        return new InetSocketAddress(uri.getHost(), uri.getPort());
    }

    @Override
    public String address() {
        return address;
    }

    /** Requests waiting for a reply, over all connections. */
    int waiting() {
        return connections.stream().mapToInt(ClientConnection::load).sum();
    }

    IOException failure() {
        return failure.get();
    }

    /** The first transport error: closes every connection and fails everything waiting. */
    void fail(Throwable cause) {
        IOException e = cause instanceof ProtocolException p && p.getMessage().startsWith("replica ")
                ? p
                : new IOException("replica " + address + ": connection lost: " + describe(cause), cause);
        if (!failure.compareAndSet(null, e)) {
            return;
        }
        for (ClientConnection c : connections) {
            c.close();
        }
        for (ClientConnection c : connections) {
            c.failAll(e);
        }
    }

    private static String describe(Throwable cause) {
        return cause.getMessage() == null ? cause.toString() : cause.getMessage();
    }

    private ClientConnection pick() {
        ClientConnection best = connections.getFirst();
        int load = best.load();
        for (int i = 1; i < connections.size() && load > 0; i++) {
            ClientConnection c = connections.get(i);
            int l = c.load();
            if (l < load) {
                best = c;
                load = l;
            }
        }
        return best;
    }

    @SuppressWarnings("unchecked")
    private <T> CompletableFuture<T> call(
            Op op, long offset, long length, long epoch, byte[] json, ClientConnection.Decoder decoder) {
        Frame f = Frame.request(op, ids.incrementAndGet(), offset, length, epoch, json == null ? 0 : json.length);
        MemorySegment payload = json == null ? null : MemorySegment.ofArray(json);
        return (CompletableFuture<T>) pick().send(f, payload, null, decoder);
    }

    private CompletableFuture<Void> control(Op op, long offset, long length, long epoch, Object body) {
        byte[] json;
        try {
            json = body == null ? null : Json.write(body);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        return call(op, offset, length, epoch, json, null);
    }

    /** Reads or writes {@code data}, split into requests of at most {@link Frame#MAX_PAYLOAD} bytes. */
    private CompletableFuture<Void> data(Op op, long epoch, long offset, MemorySegment data) {
        long size = data.byteSize();
        if (size <= Frame.MAX_PAYLOAD) {
            return one(op, epoch, offset, data);
        }
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        for (long at = 0; at < size; at += Frame.MAX_PAYLOAD) {
            long n = Math.min(Frame.MAX_PAYLOAD, size - at);
            parts.add(one(op, epoch, offset + at, data.asSlice(at, n)));
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new));
    }

    @SuppressWarnings("unchecked")
    private CompletableFuture<Void> one(Op op, long epoch, long offset, MemorySegment data) {
        long n = data.byteSize();
        boolean write = op == Op.WRITE;
        Frame f = Frame.request(op, ids.incrementAndGet(), offset, n, epoch, write ? (int) n : 0);
        return (CompletableFuture<Void>)
                (CompletableFuture<?>) pick().send(f, write ? data : null, write ? null : data, null);
    }

    @Override
    public CompletableFuture<Void> read(long offset, MemorySegment dst) {
        return data(Op.READ, 0, offset, dst);
    }

    @Override
    public CompletableFuture<Void> write(long epoch, long offset, MemorySegment src) {
        return data(Op.WRITE, epoch, offset, src);
    }

    @Override
    public CompletableFuture<Void> trim(long epoch, long offset, long length) {
        return control(Op.TRIM, offset, length, epoch, null);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long epoch, long offset, long length) {
        return control(Op.WRITE_ZEROES, offset, length, epoch, null);
    }

    @Override
    public CompletableFuture<Void> flush() {
        return control(Op.FLUSH, 0, 0, 0, null);
    }

    @Override
    public CompletableFuture<List<BlockDevice.Extent>> extents(long offset, long length) {
        return call(Op.EXTENTS, offset, length, 0, null, json -> Json.read(json, EXTENTS));
    }

    @Override
    public CompletableFuture<ReplicaInfo> info() {
        return call(Op.INFO, 0, 0, 0, null, json -> Json.read(json, ReplicaInfo.class));
    }

    @Override
    public CompletableFuture<Void> acceptEpoch(long epoch) {
        return control(Op.ACCEPT_EPOCH, 0, 0, epoch, null);
    }

    @Override
    public CompletableFuture<SnapshotInfo> snapshot(
            String name, boolean userCreated, Map<String, String> labels, Instant created) {
        byte[] json;
        try {
            json = Json.write(new Json.SnapshotRequest(name, userCreated, labels, created));
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        return call(Op.SNAPSHOT, 0, 0, 0, json, j -> Json.read(j, SnapshotInfo.class));
    }

    @Override
    public CompletableFuture<List<SnapshotInfo>> snapshots() {
        return call(Op.SNAPSHOTS, 0, 0, 0, null, json -> Json.read(json, SNAPSHOTS));
    }

    @Override
    public CompletableFuture<Void> deleteSnapshot(String name) {
        return control(Op.DELETE_SNAPSHOT, 0, 0, 0, new Json.Name(name));
    }

    @Override
    public CompletableFuture<List<String>> purge() {
        return call(Op.PURGE, 0, 0, 0, null, json -> Json.read(json, NAMES));
    }

    @Override
    public CompletableFuture<Void> revert(String name) {
        return control(Op.REVERT, 0, 0, 0, new Json.Name(name));
    }

    @Override
    public CompletableFuture<Void> expand(long newSize) {
        return control(Op.EXPAND, 0, newSize, 0, null);
    }

    @Override
    public CompletableFuture<Void> prepareRebuild(long epoch, List<SnapshotInfo> source, String headParent) {
        return control(Op.PREPARE_REBUILD, 0, 0, epoch, new Json.RebuildRequest(source, headParent));
    }

    @Override
    public CompletableFuture<byte[]> layerDigests(String layer, long offset, int blocks) {
        return withJson(Op.LAYER_DIGESTS, offset, blocks, 0, new Json.LayerRequest(layer, null), bytes -> bytes);
    }

    @Override
    public CompletableFuture<LayerBlocks> readLayer(String layer, long offset, int blocks, BitSet wanted) {
        return withJson(
                Op.LAYER_READ,
                offset,
                blocks,
                0,
                new Json.LayerRequest(layer, wanted.toLongArray()),
                LayerBlocks::decode);
    }

    /**
     * {@link #readLayer}'s blocks in their encoded form, in a buffer from {@code pool} that the caller
     * closes ({@link LayerBlocks#decode(MemorySegment)} reads it): a rebuild target's path, no array copies.
     */
    @SuppressWarnings("unchecked")
    public CompletableFuture<io.bighorn.common.BufferPool.Lease> readLayerEncoded(
            String layer, long offset, int blocks, BitSet wanted, io.bighorn.common.BufferPool pool) {
        byte[] json;
        try {
            json = Json.write(new Json.LayerRequest(layer, wanted.toLongArray()));
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        Frame f = Frame.request(Op.LAYER_READ, ids.incrementAndGet(), offset, blocks, 0, json.length);
        return (CompletableFuture<io.bighorn.common.BufferPool.Lease>)
                (CompletableFuture<?>) pick().sendForBuffer(f, MemorySegment.ofArray(json), pool);
    }

    @Override
    public CompletableFuture<Void> writeLayer(long epoch, LayerBlocks blocks) {
        return call(Op.LAYER_WRITE, blocks.offset(), blocks.blocks(), epoch, blocks.encode(), null);
    }

    @Override
    public CompletableFuture<Long> pullLayer(
            long epoch, String source, String layer, long offset, int blocks, BitSet wanted) {
        return withJson(
                Op.PULL_LAYER,
                offset,
                blocks,
                epoch,
                new Json.PullRequest(source, layer, wanted.toLongArray()),
                json -> Json.read(json, Long.class));
    }

    @Override
    public CompletableFuture<long[]> takePartialBlocks() {
        return call(Op.PARTIAL_BLOCKS, 0, 0, 0, null, json -> Json.read(json, long[].class));
    }

    @Override
    public CompletableFuture<Void> syncLayers() {
        return control(Op.SYNC_LAYERS, 0, 0, 0, null);
    }

    @Override
    public CompletableFuture<Void> finishRebuild(long epoch, long revision) {
        return control(Op.FINISH_REBUILD, 0, revision, epoch, null);
    }

    @Override
    public CompletableFuture<Void> putIntent(byte[] map) {
        return call(Op.PUT_INTENT, 0, 0, 0, map, null);
    }

    @Override
    public CompletableFuture<byte[]> intent() {
        return call(Op.GET_INTENT, 0, 0, 0, null, bytes -> bytes);
    }

    private <T> CompletableFuture<T> withJson(
            Op op, long offset, long length, long epoch, Object body, ClientConnection.Decoder decoder) {
        byte[] json;
        try {
            json = Json.write(body);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
        return call(op, offset, length, epoch, json, decoder);
    }

    /** Closes every connection; requests still waiting fail with an {@link IOException}. */
    @Override
    public void close() {
        IOException closed = new IOException("replica " + address + ": endpoint closed");
        if (failure.compareAndSet(null, closed)) {
            for (ClientConnection c : connections) {
                c.close();
            }
            for (ClientConnection c : connections) {
                c.failAll(closed);
            }
        }
        try {
            for (ClientConnection c : connections) {
                c.join();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
