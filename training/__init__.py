"""Trainers: one shared loop (``training.loop``) and one file per method (pix2pix, cyclegan, srgan, dcgan)."""
