/**
 * The control API of an engine process: a gRPC service ({@code engine.proto}) over an {@code Engine}, its
 * server and its client. {@code bighorn ctl} is the client's command line.
 */
package io.bighorn.control;
