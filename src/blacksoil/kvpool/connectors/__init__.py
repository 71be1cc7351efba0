"""Engine connectors: restore cached prefix blocks into an engine and store the ones it computes.

Import a connector directly (``blacksoil.kvpool.connectors.llama``): each needs its engine's
package, which the pool itself does not.
"""
