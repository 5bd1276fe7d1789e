"""soulplayer: a tiny transformer, bit-exact on a Commodore 64."""
