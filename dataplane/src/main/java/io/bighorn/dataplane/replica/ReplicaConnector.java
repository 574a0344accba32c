package io.bighorn.dataplane.replica;

import java.io.IOException;

/** Opens a connection to a replica by its address: how an engine reaches a replica it was not started with. */
@FunctionalInterface
public interface ReplicaConnector {
    ReplicaEndpoint connect(String address) throws IOException;
}
