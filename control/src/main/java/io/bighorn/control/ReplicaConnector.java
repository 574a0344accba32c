package io.bighorn.control;

import io.bighorn.dataplane.replica.ReplicaEndpoint;
import java.io.IOException;

/** Opens a connection to a replica by its address, for {@code add-replica}. */
@FunctionalInterface
public interface ReplicaConnector {
    ReplicaEndpoint connect(String address) throws IOException;
}
