/** The node agent: hosts replicas and engines for the manager, over the API in {@code agent.proto}. */
package io.bighorn.agent;
