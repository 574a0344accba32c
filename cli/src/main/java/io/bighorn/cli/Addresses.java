package io.bighorn.cli;

import java.net.InetSocketAddress;
import java.net.URI;

/** Parses the HOST:PORT arguments of the commands. */
final class Addresses {
    private Addresses() {}

    /** {@code HOST:PORT} (port 0 picks a free one); {@code option} names the flag in the error. */
    static InetSocketAddress parse(String option, String hostPort) {
        URI uri;
        try {
            uri = URI.create("tcp://" + hostPort);
        } catch (IllegalArgumentException e) {
            uri = null;
        }
        if (uri == null || uri.getHost() == null || uri.getPort() < 0) {
            throw new IllegalArgumentException(option + " wants HOST:PORT, not '" + hostPort + "'");
        }
        return new InetSocketAddress(uri.getHost(), uri.getPort());
    }
}
