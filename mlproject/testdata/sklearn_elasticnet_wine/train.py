# stub of MLflow's examples/sklearn_elasticnet_wine/train.py
import sys
print(sys.argv)
