package io.bighorn.agent;

import io.bighorn.dataplane.wire.ClusterSecret;
import io.grpc.CallCredentials;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.concurrent.Executor;

/**
 * How the manager and the agents of a cluster know each other: a bearer token derived from the cluster
 * secret. Agents send it with their heartbeats; the manager sends it on every agent and engine call.
 */
public final class AgentAuth {
    static final Metadata.Key<String> AUTHORIZATION =
            Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

    private AgentAuth() {}

    /** The token of this cluster. */
    public static String token(ClusterSecret secret) {
        return secret.derive("bighorn-agent-v1");
    }

    /** Whether an HTTP or gRPC {@code Authorization} header carries this cluster's token. */
    public static boolean matches(ClusterSecret secret, String header) {
        if (header == null || !header.startsWith("Bearer ")) {
            return false;
        }
        return MessageDigest.isEqual(
                header.substring("Bearer ".length()).strip().getBytes(StandardCharsets.UTF_8),
                token(secret).getBytes(StandardCharsets.UTF_8));
    }

    /** Refuses (UNAUTHENTICATED) every call without this cluster's token. */
    public static ServerInterceptor serverInterceptor(ClusterSecret secret) {
        return new ServerInterceptor() {
            @Override
            public <Q, A> ServerCall.Listener<Q> interceptCall(
                    ServerCall<Q, A> call, Metadata headers, ServerCallHandler<Q, A> next) {
                if (!matches(secret, headers.get(AUTHORIZATION))) {
                    call.close(
                            Status.UNAUTHENTICATED.withDescription("not a member of this cluster (bad or no token)"),
                            new Metadata());
                    return new ServerCall.Listener<>() {};
                }
                return next.startCall(call, headers);
            }
        };
    }

    /** Adds this cluster's token to every call. */
    public static CallCredentials callCredentials(ClusterSecret secret) {
        String header = "Bearer " + token(secret);
        return new CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
                Metadata m = new Metadata();
                m.put(AUTHORIZATION, header);
                applier.apply(m);
            }
        };
    }
}
