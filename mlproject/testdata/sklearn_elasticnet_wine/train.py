# Stands in for MLflow's examples/sklearn_elasticnet_wine/train.py: the parser tests only need the file to exist.
import sys
print(sys.argv)
