"""The building blocks of the configs under configs/: every block's fields with
their defaults (`blocks`) and the variants shared between configs (`variants`)."""
