package io.bighorn.dataplane.wire;

import io.bighorn.common.BufferPool;
import io.bighorn.dataplane.replica.Replica;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves one {@link Replica} over TCP to engines that hold the cluster secret. Each connection has one
 * reader thread, which runs small reads and writes itself and batches their replies, while flushes,
 * control operations and large transfers run on their own virtual threads; replies are sent as soon as
 * they are done, so they may overtake each other (see {@code ServerConnection}). Large reads are sent
 * straight from the layer files ({@code sendfile}, see {@code ReplyWriter}). A connection has at most
 * {@link #MAX_IN_FLIGHT} requests unanswered; beyond that the server stops reading it, and TCP pushes
 * back on the client.
 *
 * <p>The server does not own the replica: closing it stops accepting, closes every connection, waits
 * for the requests running, and leaves the replica open.
 */
public final class ReplicaServer implements AutoCloseable {
    /** Requests one connection may have running at once. */
    public static final int MAX_IN_FLIGHT = 256;

    private static final Logger log = LoggerFactory.getLogger(ReplicaServer.class);

    private final Replica replica;
    private final ClusterSecret secret;
    private final ServerSocketChannel listener;
    private final java.net.SocketAddress bound;
    private final Thread acceptor;
    private final Set<ServerConnection> connections = ConcurrentHashMap.newKeySet();
    final BufferPool buffers = new BufferPool(32L << 20);
    private final Peers peers;
    /** Test hook run on a request's thread before the replica sees it. */
    final RequestHook hook;

    final AtomicLong refused = new AtomicLong();
    /** Read system calls of the connections after their handshakes: how well requests are batched. */
    final LongAdder socketReads = new LongAdder();
    /** Write system calls of the connections' replies. */
    final LongAdder socketWrites = new LongAdder();

    private volatile boolean closed;

    /**
     * Called before a request runs, on the thread that runs it (tests slow requests down with it). Small
     * reads and writes run on the connection's reader, so holding one up holds up the connection.
     */
    @FunctionalInterface
    interface RequestHook {
        void before(Frame request) throws Exception;
    }

    private ReplicaServer(Replica replica, ClusterSecret secret, ServerSocketChannel listener, RequestHook hook)
            throws IOException {
        this.replica = replica;
        this.secret = secret;
        this.peers = new Peers(secret);
        this.listener = listener;
        this.hook = hook;
        this.bound = listener.getLocalAddress();
        this.acceptor = Thread.ofPlatform()
                .name("bighorn-replica-accept-" + (bound instanceof InetSocketAddress i ? i.getPort() : "unix"))
                .daemon()
                .unstarted(this::acceptLoop);
    }

    /**
     * Listens on {@code bind} and serves {@code replica}: a TCP address (port 0 picks a free port, see {@link
     * #address()}) or a Unix domain socket path, for an engine on the same machine (no TCP stack on the
     * way; a socket file left by a process that died is replaced).
     */
    public static ReplicaServer start(Replica replica, java.net.SocketAddress bind, ClusterSecret secret)
            throws IOException {
        return start(replica, bind, secret, _ -> {});
    }

    static ReplicaServer start(Replica replica, java.net.SocketAddress bind, ClusterSecret secret, RequestHook hook)
            throws IOException {
        boolean unix = bind instanceof java.net.UnixDomainSocketAddress;
        ServerSocketChannel listener =
                unix ? ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX) : ServerSocketChannel.open();
        try {
            if (unix) {
                removeStaleSocket(((java.net.UnixDomainSocketAddress) bind).getPath());
            } else {
                listener.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            }
            listener.bind(bind, 128);
            ReplicaServer server = new ReplicaServer(replica, secret, listener, hook);
            server.acceptor.start();
            log.info("replica {} serving on {}", replica.directory(), server.url());
            return server;
        } catch (IOException | RuntimeException e) {
            listener.close();
            throw new IOException("cannot listen on " + bind + ": " + e.getMessage(), e);
        }
    }

    /** Removes a socket file at {@code path} that no process listens on any more; anything else stays. */
    private static void removeStaleSocket(java.nio.file.Path path) throws IOException {
        if (!java.nio.file.Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        Object type = java.nio.file.Files.getAttribute(path, "unix:mode", java.nio.file.LinkOption.NOFOLLOW_LINKS);
        if (!(type instanceof Integer mode) || (mode & 0170000) != 0140000) {
            throw new IOException(path + " exists and is not a socket");
        }
        try (SocketChannel probe = SocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            probe.connect(java.net.UnixDomainSocketAddress.of(path));
            throw new IOException("another process serves " + path);
        } catch (java.net.ConnectException refused) {
            java.nio.file.Files.deleteIfExists(path);
        }
    }

    /** The TCP address bound, with the port chosen when asked for port 0; null for a Unix domain socket. */
    public InetSocketAddress address() {
        return bound instanceof InetSocketAddress i ? i : null;
    }

    /** The TCP port bound; -1 for a Unix domain socket. */
    public int port() {
        return bound instanceof InetSocketAddress i ? i.getPort() : -1;
    }

    /** What an engine connects to: {@code tcp://HOST:PORT} or {@code unix:///PATH}. */
    public String url() {
        if (bound instanceof java.net.UnixDomainSocketAddress u) {
            return "unix://" + u.getPath().toAbsolutePath();
        }
        InetSocketAddress i = (InetSocketAddress) bound;
        String host = i.getAddress().getHostAddress();
        return "tcp://" + (host.contains(":") ? "[" + host + "]" : host) + ":" + i.getPort();
    }

    Replica replica() {
        return replica;
    }

    Peers peers() {
        return peers;
    }

    ClusterSecret secret() {
        return secret;
    }

    /** Connections being served now. */
    public int connections() {
        return connections.size();
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    log.warn("{}: accept failed: {}", url(), e.toString());
                }
                continue;
            }
            ServerConnection c = null;
            try {
                if (bound instanceof InetSocketAddress) {
                    ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
                }
                c = new ServerConnection(this, ch);
                connections.add(c);
                if (closed) {
                    c.close();
                } else {
                    c.start();
                }
            } catch (IOException | OutOfMemoryError e) { // OutOfMemoryError: the OS refused another thread
                log.warn("{}: cannot set up a connection: {}", url(), e.toString());
                if (c != null) {
                    connections.remove(c);
                }
                closeQuietly(ch);
            }
        }
    }

    void done(ServerConnection c) {
        connections.remove(c);
    }

    /** Stops accepting, closes every connection and waits for the requests that are running. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        closeQuietly(listener);
        if (bound instanceof java.net.UnixDomainSocketAddress u) {
            try {
                java.nio.file.Files.deleteIfExists(u.getPath());
            } catch (IOException e) {
                log.warn("cannot remove socket file {}: {}", u.getPath(), e.toString());
            }
        }
        List<ServerConnection> open = List.copyOf(connections);
        for (ServerConnection c : open) {
            c.close();
        }
        for (ServerConnection c : open) {
            c.awaitRequests();
        }
        peers.close();
        try {
            acceptor.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        log.info("replica {} no longer served on {}", replica.directory(), url());
    }

    static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception e) {
            // closing on the way out; nothing to add
        }
    }
}
