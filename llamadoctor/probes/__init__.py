"""llamadoctor/probes"""
