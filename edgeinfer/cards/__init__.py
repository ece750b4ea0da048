"""Model cards shipped with edgeinfer for models that other packages ship (``silero_vad.yaml``)."""
